package api

import (
	"errors"
	"testing"
)

func TestParseSIPURI(t *testing.T) {
	tests := []struct {
		in   string
		want SIPURI
		ok   bool
	}{
		{"sip:bob@domaina.com", SIPURI{User: "bob", Host: "domaina.com"}, true},
		{"sips:Bob@DomainA.com:5061;transport=tls", SIPURI{User: "Bob", Host: "domaina.com", Port: 5061}, true},
		{"SIP:domaina.com", SIPURI{Host: "domaina.com"}, true},
		{"sip:alice:secret@domaina.com?subject=hi", SIPURI{User: "alice", Host: "domaina.com"}, true},
		{"sip:+15551234@domaina.com;user=phone", SIPURI{User: "+15551234", Host: "domaina.com"}, true},
		{"", SIPURI{}, false},
		{"bob@domaina.com", SIPURI{}, false},
		{"http://domaina.com", SIPURI{}, false},
		{"tel:+15551234", SIPURI{}, false},
		{"sip:@domaina.com", SIPURI{}, false},
		{"sip:bob@", SIPURI{}, false},
		{"sip:bob@192.0.2.1", SIPURI{}, false},
		{"sip:bob@domaina.com:0", SIPURI{}, false},
		{"sip:bob@domaina.com:x", SIPURI{}, false},
		{"sip:bob@*.domaina.com", SIPURI{}, false},
	}
	for _, tc := range tests {
		got, err := ParseSIPURI("uri", tc.in)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Field != "uri" {
			t.Errorf("%q: err = %v, want a field error on uri", tc.in, err)
		}
	}
}
