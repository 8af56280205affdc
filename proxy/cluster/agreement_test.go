package cluster

import (
	"strings"
	"testing"
)

func m(fqdn string, created int64, local ...string) member {
	return member{record: record{NodeFQDN: fqdn, LocalDomains: local, DefaultFederationRoutingDomain: "aol.com"}, createRev: created}
}

// The cluster's values are those most nodes hold; a tie goes to the longest-running node; every
// node that differs is told why.
func TestAgreement(t *testing.T) {
	tests := []struct {
		name      string
		members   []member
		wantLocal string
		wantOdd   []string
	}{
		{"one node agrees with itself", []member{m("a", 1, "x.com")}, "x.com", nil},
		{"majority wins over age", []member{m("a", 1, "y.com"), m("b", 2, "x.com"), m("c", 3, "x.com")}, "x.com", []string{"a"}},
		{"a tie goes to the oldest", []member{m("a", 1, "y.com"), m("b", 2, "x.com")}, "y.com", []string{"b"}},
		{"all agree", []member{m("a", 1, "x.com", "z.com"), m("b", 2, "x.com", "z.com")}, "x.com,z.com", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl, why := agreement(tc.members)
			if got := strings.Join(cl.LocalDomains, ","); got != tc.wantLocal {
				t.Fatalf("cluster's local domains %q, want %q", got, tc.wantLocal)
			}
			if len(why) != len(tc.wantOdd) {
				t.Fatalf("disagreeing: %v, want %v", why, tc.wantOdd)
			}
			for _, n := range tc.wantOdd {
				if len(why[n]) != 1 || !strings.Contains(why[n][0], "--local-domain") {
					t.Fatalf("%s: %v", n, why[n])
				}
			}
		})
	}
	// The default federation routing domain must agree too.
	a, b := m("a", 1, "x.com"), m("b", 2, "x.com")
	b.DefaultFederationRoutingDomain = "clearing.example"
	c := m("c", 3, "x.com")
	_, why := agreement([]member{a, b, c})
	if len(why["b"]) != 1 || !strings.Contains(why["b"][0], "--default-federation-routing-domain clearing.example differs from the cluster's aol.com (held by 2 of 3 nodes)") {
		t.Fatalf("why b: %v", why["b"])
	}
}
