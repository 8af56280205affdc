// Package messagetest holds what the tests of the packages built on proxy/sip/message share:
// parsing a message a test wrote, and reading its headers back, as httptest does for net/http.
package messagetest

import (
	"testing"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
)

// Parse parses raw as one whole datagram; the test fails when it does not parse.
func Parse(t testing.TB, raw string) *message.Msg {
	t.Helper()
	m := new(message.Msg)
	if err := message.Parse(m, []byte(raw), true, message.DefaultLimits); err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return m
}

// Values lists the values of every header named name (case-insensitive, as the header was
// written: "f" and "From" are two names), in order.
func Values(m *message.Msg, name string) []string {
	var out []string
	for _, h := range m.Headers {
		if message.EqualFoldASCII(m.Bytes(h.Name), name) {
			out = append(out, m.Str(h.Value))
		}
	}
	return out
}
