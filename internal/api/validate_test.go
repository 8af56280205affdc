package api

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateDomain(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = valid, else a fragment of the message
	}{
		{"domaina.com", ""},
		{"a.b.c.d.example.co.uk", ""},
		{"xn--bcher-kva.example", ""},
		{"localhost", ""},
		{"1and1.com", ""},
		{"", "empty"},
		{"*.domaina.com", "wildcard"},
		{"domaina..com", "empty label"},
		{".domaina.com", "empty label"},
		{"domaina.com.", "empty label"},
		{"-a.com", "hyphen"},
		{"a-.com", "hyphen"},
		{"a_b.com", "only letters"},
		{"a b.com", "only letters"},
		{"192.0.2.1", "all digits"},
		{strings.Repeat("a", 64) + ".com", "63"},
		{strings.Repeat("abcdefghi.", 26) + "com", "253"},
	}
	for _, tc := range tests {
		err := ValidateDomain("domain", tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: unexpected error %v", tc.in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: err = %v, want an *Error", tc.in, err)
			continue
		}
		if e.Field != "domain" || e.Status != 400 || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%q: %+v, want field domain and %q", tc.in, e, tc.want)
		}
	}
}

func TestValidateDestinationPattern(t *testing.T) {
	tests := []struct {
		routeType, in string
		ok            bool
	}{
		{RouteTypeDomain, ".com.domaina.*", true},
		{RouteTypeDomain, ".com.domaina", true},
		{RouteTypeDomain, ".com.domaina.sub", true},
		{RouteTypeDomain, ".*", true},
		{RouteTypeDomain, "domaina.com", false},
		{RouteTypeDomain, ".com.*.domaina", false},
		{RouteTypeDomain, ".com.domaina*", false},
		{RouteTypeDomain, ".com..domaina", false},
		{RouteTypeDomain, ".", false},
		{RouteTypeDomain, "", false},
		{RouteTypeUser, "alice", true},
		{RouteTypeUser, "555*", true},
		{RouteTypeUser, "*", true},
		{RouteTypeUser, "first.last+tag", true},
		{RouteTypeUser, "bob@domaina.com", false},
		{RouteTypeUser, "a*b", false},
		{RouteTypeUser, strings.Repeat("u", 129), false},
	}
	for _, tc := range tests {
		err := ValidateDestinationPattern("destination_pattern", tc.routeType, tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s %q: err = %v, want ok=%v", tc.routeType, tc.in, err, tc.ok)
		}
	}
}

func TestValidateHost(t *testing.T) {
	for _, ok := range []string{"192.0.2.1", "2001:db8::1", "edge.domaina.com"} {
		if err := ValidateHost("next_hop", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0.0.0.0", "224.0.0.5", "fe80::1%eth0", "edge domaina.com", "edge.domaina.com:5061"} {
		if err := ValidateHost("next_hop", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStaticRouteNormalizeAndValidate(t *testing.T) {
	r := NewStaticRoute()
	r.DestinationPattern, r.NextHop, r.Protocol, r.RouteType = ".COM.DomainA.*", "Edge.DomainA.COM", "TLS", ""
	r.Normalize()
	if r.DestinationPattern != ".com.domaina.*" || r.NextHop != "edge.domaina.com" || r.Protocol != "tls" || r.RouteType != "domain" {
		t.Fatalf("normalized %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	// User patterns are case-sensitive, as the user part of a SIP URI is.
	u := NewStaticRoute()
	u.RouteType, u.DestinationPattern, u.NextHop = RouteTypeUser, "Alice*", "2001:DB8::1"
	u.Normalize()
	if u.DestinationPattern != "Alice*" || u.NextHop != "2001:db8::1" {
		t.Fatalf("normalized %+v", u)
	}
	for field, mutate := range map[string]func(*StaticRoute){
		"next_hop_port": func(r *StaticRoute) { r.NextHopPort = 0 },
		"priority":      func(r *StaticRoute) { r.Priority = 0 },
		"weight":        func(r *StaticRoute) { r.Weight = -1 },
		"protocol":      func(r *StaticRoute) { r.Protocol = "sctp" },
		"description":   func(r *StaticRoute) { r.Description = strings.Repeat("x", 256) },
	} {
		bad := r
		mutate(&bad)
		var e *Error
		if err := bad.Validate(); !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: err = %v", field, err)
		}
	}
}

func TestDestinationPatternAndSRVName(t *testing.T) {
	if got := DestinationPattern("DomainA.com"); got != ".com.domaina.*" {
		t.Errorf("DestinationPattern = %q", got)
	}
	if got := DestinationPattern("a.b.example.org"); got != ".org.example.b.a.*" {
		t.Errorf("DestinationPattern = %q", got)
	}
	if err := ValidateDestinationPattern("p", RouteTypeDomain, DestinationPattern("x.domaina.com")); err != nil {
		t.Errorf("DestinationPattern output does not validate: %v", err)
	}
	if got := FederationSRVName("DomainA.com"); got != "_sipfederationtls._tcp.domaina.com" {
		t.Errorf("FederationSRVName = %q", got)
	}
}
