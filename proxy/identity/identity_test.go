package identity

import (
	"net"
	"slices"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
)

func TestOf(t *testing.T) {
	ca := testpki.MustCA("ca")
	cases := []struct {
		name string
		opts testpki.LeafOptions
		want []string
	}{
		{"sip URI first", testpki.LeafOptions{CN: "cn.example", DNS: []string{"dns.example"}, URIs: []string{"sip:Edge.Partner.example"}}, []string{"edge.partner.example"}},
		{"sip URI with port and params", testpki.LeafOptions{URIs: []string{"sip:edge.partner.example:5061;transport=tls"}}, []string{"edge.partner.example"}},
		{"user URIs and other schemes are no identity", testpki.LeafOptions{DNS: []string{"dns.example"}, URIs: []string{"sip:alice@partner.example", "https://partner.example"}}, []string{"dns.example"}},
		{"DNS names without sip URI", testpki.LeafOptions{CN: "cn.example", DNS: []string{"A.example", "b.example"}}, []string{"a.example", "b.example"}},
		{"wildcard is a whole name", testpki.LeafOptions{DNS: []string{"*.partner.example"}}, []string{"*.partner.example"}},
		{"CN only without SAN", testpki.LeafOptions{CN: "Access.Partner.example"}, []string{"access.partner.example"}},
		{"no CN fallback when a SAN exists", testpki.LeafOptions{CN: "cn.example", IPs: []net.IP{net.IPv4(192, 0, 2, 1)}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leaf := ca.MustIssue(c.opts)
			if got := Of(leaf.Cert); !slices.Equal(got, c.want) {
				t.Fatalf("Of = %q, want %q", got, c.want)
			}
			for _, w := range c.want {
				got, ok := Match(leaf.Cert, func(s string) bool { return s == w })
				if !ok || got != w {
					t.Fatalf("Match(%q) = %q, %v", w, got, ok)
				}
			}
			if _, ok := Match(leaf.Cert, func(s string) bool { return s == "cn.example" }); ok && !slices.Contains(c.want, "cn.example") {
				t.Fatal("Match accepted the CN of a certificate with a SAN")
			}
		})
	}
	if Of(nil) != nil {
		t.Fatal("Of(nil) is not nil")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	leaf := testpki.MustCA("ca").MustIssue(testpki.LeafOptions{DNS: []string{"a.example", "edge.partner.example"}})
	accept := func(s string) bool { return s == "edge.partner.example" }
	if n := testing.AllocsPerRun(100, func() { Match(leaf.Cert, accept) }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}
