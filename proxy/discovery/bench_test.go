package discovery

import (
	"testing"
)

// The cost of an answer from the cache: what a decision pays for a partner found by SRV, or a
// static route to a name, once DNS has answered.
func BenchmarkLookupSRVCached(b *testing.B) {
	srv := startServerB(b)
	r, err := New(Config{Servers: []string{srv}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.LookupSRV(b.Context(), "partner.example"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ans, err := r.LookupSRV(b.Context(), "partner.example"); err != nil || !ans.Cached {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupAddrsCached(b *testing.B) {
	srv := startServerB(b)
	r, err := New(Config{Servers: []string{srv}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.LookupAddrs(b.Context(), "sip.partner.example"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ans, err := r.LookupAddrs(b.Context(), "sip.partner.example"); err != nil || !ans.Cached {
			b.Fatal(err)
		}
	}
}

func startServerB(b *testing.B) string {
	return startServer(b, map[string]answer{
		"SRV _sipfederationtls._tcp.partner.example": {answer: []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 sip.partner.example."},
			extra: []string{"sip.partner.example. 300 IN A 192.0.2.1", "sip.partner.example. 300 IN AAAA 2001:db8::1"}},
		"A sip.partner.example":    {answer: []string{"sip.partner.example. 300 IN A 192.0.2.1"}},
		"AAAA sip.partner.example": {answer: []string{"sip.partner.example. 300 IN AAAA 2001:db8::1"}},
	}).Addr
}
