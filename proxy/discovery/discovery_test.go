package discovery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

const soa = "partner.example. 300 IN SOA ns.partner.example. hostmaster.partner.example. 1 7200 900 1209600 %d"

// render shows SRV records as "priority weight port target addr,addr", in DNS order.
func render(recs []routing.SRVRecord) []string {
	var out []string
	for _, r := range recs {
		var as []string
		for _, a := range r.Addrs {
			as = append(as, a.String())
		}
		out = append(out, fmt.Sprintf("%d %d %d %s %s", r.Priority, r.Weight, r.Port, r.Target, strings.Join(as, ",")))
	}
	return out
}

func newResolver(t *testing.T, cfg Config) *Resolver {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLookupSRV(t *testing.T) {
	tests := []struct {
		name    string
		zone    map[string]answer
		domain  string
		want    []string
		wantErr error
		server  string         // the DNSError's Server: "" none, "test" the test server
		queries map[string]int // "network TYPE name" -> count the server saw; others must be 0
	}{
		{
			name: "SRV with addresses in the additional section",
			zone: map[string]answer{"SRV _sipfederationtls._tcp.partner.example": {
				answer: []string{
					"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 60 5061 sip1.partner.example.",
					"_sipfederationtls._tcp.partner.example. 300 IN SRV 20 40 5062 SIP2.partner.example.",
				},
				extra: []string{
					"sip1.partner.example. 300 IN AAAA 2001:db8::1",
					"sip1.partner.example. 300 IN A 192.0.2.1",
					"sip2.partner.example. 300 IN A 192.0.2.2",
					"other.example. 300 IN A 192.0.2.99",
				},
			}},
			domain:  "Partner.Example",
			want:    []string{"10 60 5061 sip1.partner.example 192.0.2.1,2001:db8::1", "20 40 5062 sip2.partner.example 192.0.2.2"},
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.partner.example": 1},
		},
		{
			name: "targets without additional data resolved to A and AAAA",
			zone: map[string]answer{
				"SRV _sipfederationtls._tcp.partner.example": {answer: []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 edge.partner.example."}},
				"A edge.partner.example":                     {answer: []string{"edge.partner.example. 300 IN A 192.0.2.10", "edge.partner.example. 300 IN A 192.0.2.11"}},
				"AAAA edge.partner.example":                  {answer: []string{"edge.partner.example. 300 IN AAAA 2001:db8::10"}},
			},
			domain: "partner.example",
			want:   []string{"10 1 5061 edge.partner.example 192.0.2.10,192.0.2.11,2001:db8::10"},
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.partner.example": 1,
				"udp A edge.partner.example": 1, "udp AAAA edge.partner.example": 1},
		},
		{
			name: "a target that does not resolve comes without addresses",
			zone: map[string]answer{
				"SRV _sipfederationtls._tcp.partner.example": {answer: []string{
					"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 gone.partner.example.",
					"_sipfederationtls._tcp.partner.example. 300 IN SRV 20 1 5061 edge.partner.example.",
				}},
				"A edge.partner.example":    {answer: []string{"edge.partner.example. 300 IN A 192.0.2.10"}},
				"AAAA edge.partner.example": {ns: []string{fmt.Sprintf(soa, 60)}},
			},
			domain: "partner.example",
			want:   []string{"10 1 5061 gone.partner.example ", "20 1 5061 edge.partner.example 192.0.2.10"},
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.partner.example": 1, "udp A gone.partner.example": 1,
				"udp AAAA gone.partner.example": 1, "udp A edge.partner.example": 1, "udp AAAA edge.partner.example": 1},
		},
		{
			name: "truncated UDP answer retried over TCP",
			zone: map[string]answer{"SRV _sipfederationtls._tcp.partner.example": {
				truncateUDP: true,
				answer:      []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 sip.partner.example."},
				extra:       []string{"sip.partner.example. 300 IN A 192.0.2.5"},
			}},
			domain:  "partner.example",
			want:    []string{"10 1 5061 sip.partner.example 192.0.2.5"},
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.partner.example": 1, "tcp SRV _sipfederationtls._tcp.partner.example": 1},
		},
		{
			name:    "NXDOMAIN",
			zone:    map[string]answer{},
			domain:  "nowhere.example",
			wantErr: ErrNXDOMAIN, server: "test",
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.nowhere.example": 1},
		},
		{
			name:    "SERVFAIL",
			zone:    map[string]answer{"SRV _sipfederationtls._tcp.broken.example": {rcode: dns.RcodeServerFailure}},
			domain:  "broken.example",
			wantErr: ErrSERVFAIL, server: "test",
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.broken.example": 1},
		},
		{
			name:    "no SRV records (NODATA)",
			zone:    map[string]answer{"SRV _sipfederationtls._tcp.partner.example": {ns: []string{fmt.Sprintf(soa, 60)}}},
			domain:  "partner.example",
			wantErr: ErrNoRecords, server: "test",
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.partner.example": 1},
		},
		{
			name: "slow server: timeout",
			zone: map[string]answer{"SRV _sipfederationtls._tcp.slow.example": {delay: 600 * time.Millisecond,
				answer: []string{"_sipfederationtls._tcp.slow.example. 300 IN SRV 10 1 5061 sip.slow.example."}}},
			domain:  "slow.example",
			wantErr: ErrTimeout, server: "test",
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.slow.example": 1},
		},
		{
			name: "REFUSED is an error, not records",
			zone: map[string]answer{"SRV _sipfederationtls._tcp.partner.example": {rcode: dns.RcodeRefused,
				answer: []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 sip.partner.example."}}},
			domain: "partner.example", server: "test",
			queries: map[string]int{"udp SRV _sipfederationtls._tcp.partner.example": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.zone)
			r := newResolver(t, Config{Servers: []string{srv.Addr}, Timeout: 150 * time.Millisecond})
			start := time.Now()
			ans, err := r.LookupSRV(t.Context(), tc.domain)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Fatalf("lookup took %v", elapsed)
			}
			wantFail := tc.wantErr != nil || tc.want == nil
			switch {
			case wantFail && err == nil:
				t.Fatalf("records %v, want an error", render(ans.Records))
			case !wantFail && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				var de *routing.DNSError
				if !errors.As(err, &de) || de.Type != "SRV" || de.Cached || !strings.HasPrefix(de.Name, "_sipfederationtls._tcp.") {
					t.Fatalf("error %#v", err)
				}
				if tc.server == "test" && de.Server != srv.Addr {
					t.Fatalf("server %q, want %q", de.Server, srv.Addr)
				}
				if tc.wantErr != nil && routing.DNSErrorCode(err) != tc.wantErr.Error() {
					t.Fatalf("code %q", routing.DNSErrorCode(err))
				}
			}
			if got := render(ans.Records); !wantFail && !slices.Equal(got, tc.want) {
				t.Fatalf("records\n got %q\nwant %q", got, tc.want)
			}
			if !wantFail && (ans.Cached || ans.TTL <= 0 || ans.TTL > 300*time.Second) {
				t.Fatalf("cached %v ttl %v", ans.Cached, ans.TTL)
			}
			total := 0
			for q, n := range tc.queries {
				network, question, _ := strings.Cut(q, " ")
				if got := srv.Queries(network, question); got != n {
					t.Errorf("%s: %d queries, want %d", q, got, n)
				}
				total += n
			}
			if got := srv.Total(); got != total {
				t.Errorf("%d queries in all, want %d", got, total)
			}
		})
	}
}

func TestLookupAddrs(t *testing.T) {
	zone := map[string]answer{
		"A dual.example":     {answer: []string{"dual.example. 60 IN A 192.0.2.1"}},
		"AAAA dual.example":  {answer: []string{"dual.example. 30 IN AAAA 2001:db8::1"}},
		"A v4.example":       {answer: []string{"v4.example. 60 IN A 192.0.2.4"}},
		"AAAA v4.example":    {ns: []string{fmt.Sprintf(soa, 60)}},
		"AAAA v6.example":    {answer: []string{"v6.example. 60 IN AAAA 2001:db8::6"}},
		"A v6.example":       {rcode: dns.RcodeServerFailure},
		"A cname.example":    {answer: []string{"cname.example. 60 IN CNAME real.example.", "real.example. 60 IN A 192.0.2.7"}},
		"AAAA cname.example": {answer: []string{"cname.example. 60 IN CNAME real.example."}, ns: []string{fmt.Sprintf(soa, 60)}},
		"A bad.example":      {rcode: dns.RcodeServerFailure},
		"AAAA bad.example":   {rcode: dns.RcodeServerFailure},
		"A empty.example":    {ns: []string{fmt.Sprintf(soa, 60)}},
		"AAAA empty.example": {ns: []string{fmt.Sprintf(soa, 60)}},
	}
	srv := startServer(t, zone)
	tests := []struct {
		host    string
		want    []string
		wantErr error
		ttl     time.Duration
	}{
		{host: "dual.example", want: []string{"192.0.2.1", "2001:db8::1"}, ttl: 30 * time.Second},
		{host: "DUAL.example.", want: []string{"192.0.2.1", "2001:db8::1"}},
		{host: "v4.example", want: []string{"192.0.2.4"}, ttl: 60 * time.Second},
		{host: "v6.example", want: []string{"2001:db8::6"}},
		{host: "cname.example", want: []string{"192.0.2.7"}},
		{host: "missing.example", wantErr: ErrNXDOMAIN},
		{host: "bad.example", wantErr: ErrSERVFAIL},
		{host: "empty.example", wantErr: ErrNoRecords},
	}
	clk := newClock()
	r := newResolver(t, Config{Servers: []string{srv.Addr}, Timeout: time.Second, Now: clk.Now})
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			ans, err := r.LookupAddrs(t.Context(), tc.host)
			if tc.wantErr != nil {
				var de *routing.DNSError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &de) || de.Type != "A/AAAA" {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range ans.Addrs {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("addresses %v, want %v", got, tc.want)
			}
			if tc.ttl != 0 && ans.TTL != tc.ttl {
				t.Fatalf("TTL %v, want %v (the smaller of the two types)", ans.TTL, tc.ttl)
			}
		})
	}
}

func TestLookupAddrsIPLiteralAsksNothing(t *testing.T) {
	srv := startServer(t, nil)
	r := newResolver(t, Config{Servers: []string{srv.Addr}})
	for _, lit := range []string{"192.0.2.1", "2001:db8::1", "[2001:db8::1]", "::ffff:192.0.2.1"} {
		ans, err := r.LookupAddrs(t.Context(), lit)
		if err != nil || len(ans.Addrs) != 1 || ans.Addrs[0].Zone() != "" {
			t.Fatalf("%s: %v %v", lit, ans, err)
		}
	}
	if srv.Total() != 0 {
		t.Fatalf("%d queries for IP literals", srv.Total())
	}
}

// Answers are cached for their TTL (capped), then asked again.
func TestCacheTTL(t *testing.T) {
	srv := startServer(t, map[string]answer{
		"SRV _sipfederationtls._tcp.partner.example": {answer: []string{"_sipfederationtls._tcp.partner.example. 120 IN SRV 10 1 5061 sip.partner.example."},
			extra: []string{"sip.partner.example. 90 IN A 192.0.2.1"}},
		"SRV _sipfederationtls._tcp.long.example": {answer: []string{"_sipfederationtls._tcp.long.example. 86400 IN SRV 10 1 5061 sip.long.example."},
			extra: []string{"sip.long.example. 86400 IN A 192.0.2.2"}},
	})
	clk := newClock()
	r := newResolver(t, Config{Servers: []string{srv.Addr}, Now: clk.Now, MaxTTL: 10 * time.Minute})
	q := "SRV _sipfederationtls._tcp.partner.example"

	ans, err := r.LookupSRV(t.Context(), "partner.example")
	if err != nil || ans.Cached || ans.TTL != 90*time.Second {
		t.Fatalf("first: cached %v ttl %v err %v (the TTL is the smaller of SRV and additional A)", ans.Cached, ans.TTL, err)
	}
	clk.Advance(89 * time.Second)
	ans, err = r.LookupSRV(t.Context(), "partner.example")
	if err != nil || !ans.Cached || ans.TTL != time.Second || srv.Queries("", q) != 1 {
		t.Fatalf("within TTL: cached %v ttl %v err %v, %d queries", ans.Cached, ans.TTL, err, srv.Queries("", q))
	}
	clk.Advance(time.Second)
	ans, err = r.LookupSRV(t.Context(), "partner.example")
	if err != nil || ans.Cached || srv.Queries("", q) != 2 {
		t.Fatalf("after TTL: cached %v err %v, %d queries", ans.Cached, err, srv.Queries("", q))
	}

	// A day's TTL is capped at MaxTTL.
	if ans, err := r.LookupSRV(t.Context(), "long.example"); err != nil || ans.TTL != 10*time.Minute {
		t.Fatalf("long TTL: %v %v", ans.TTL, err)
	}
	clk.Advance(10 * time.Minute)
	if ans, _ := r.LookupSRV(t.Context(), "long.example"); ans.Cached || srv.Queries("", "SRV _sipfederationtls._tcp.long.example") != 2 {
		t.Fatalf("MaxTTL not applied: cached %v", ans.Cached)
	}
}

// Failures are cached: NXDOMAIN and no-records for the SOA's negative TTL (capped), SERVFAIL and
// timeouts for NegativeTTL.
func TestNegativeCache(t *testing.T) {
	srv := startServer(t, map[string]answer{
		"SRV _sipfederationtls._tcp.gone.example":  {rcode: dns.RcodeNameError, ns: []string{fmt.Sprintf(soa, 30)}},
		"SRV _sipfederationtls._tcp.long.example":  {rcode: dns.RcodeNameError, ns: []string{fmt.Sprintf(soa, 86400)}},
		"SRV _sipfederationtls._tcp.nosoa.example": {rcode: dns.RcodeNameError},
		"SRV _sipfederationtls._tcp.empty.example": {ns: []string{fmt.Sprintf(soa, 20)}},
		"SRV _sipfederationtls._tcp.fail.example":  {rcode: dns.RcodeServerFailure},
		"SRV _sipfederationtls._tcp.slow.example":  {delay: 400 * time.Millisecond},
	})
	tests := []struct {
		domain string
		code   error
		ttl    time.Duration
	}{
		{"gone.example", ErrNXDOMAIN, 30 * time.Second},
		{"long.example", ErrNXDOMAIN, 2 * time.Minute}, // MaxNegativeTTL
		{"nosoa.example", ErrNXDOMAIN, 7 * time.Second},
		{"empty.example", ErrNoRecords, 20 * time.Second},
		{"fail.example", ErrSERVFAIL, 7 * time.Second},
		{"slow.example", ErrTimeout, 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			clk := newClock()
			r := newResolver(t, Config{Servers: []string{srv.Addr}, Now: clk.Now, Timeout: 100 * time.Millisecond,
				NegativeTTL: 7 * time.Second, MaxNegativeTTL: 2 * time.Minute})
			q := "SRV _sipfederationtls._tcp." + tc.domain
			before := srv.Queries("", q)
			for i, wantCached := range []bool{false, true} {
				_, err := r.LookupSRV(t.Context(), tc.domain)
				var de *routing.DNSError
				if !errors.Is(err, tc.code) || !errors.As(err, &de) || de.Cached != wantCached {
					t.Fatalf("lookup %d: %v (cached %v), want %v", i, err, de != nil && de.Cached, tc.code)
				}
				if srv.Queries("", q)-before != 1 {
					t.Fatalf("lookup %d: %d queries", i, srv.Queries("", q)-before)
				}
			}
			if !strings.HasSuffix(routing.DNSErrorCode(err2(r.LookupSRV(t.Context(), tc.domain))), tc.code.Error()) {
				t.Fatal("code lost in the cache")
			}
			clk.Advance(tc.ttl - time.Second)
			if _, err := r.LookupSRV(t.Context(), tc.domain); err == nil || srv.Queries("", q)-before != 1 {
				t.Fatalf("cached shorter than %v", tc.ttl)
			}
			clk.Advance(time.Second)
			if _, err := r.LookupSRV(t.Context(), tc.domain); !errors.Is(err, tc.code) || srv.Queries("", q)-before != 2 {
				t.Fatalf("cached longer than %v: %d queries", tc.ttl, srv.Queries("", q)-before)
			}
		})
	}
}

func err2[T any](_ T, err error) error { return err }

// Concurrent lookups of one name share one query; another name gets its own.
func TestSingleflight(t *testing.T) {
	srv := startServer(t, map[string]answer{
		"SRV _sipfederationtls._tcp.partner.example": {delay: 150 * time.Millisecond,
			answer: []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 sip.partner.example."},
			extra:  []string{"sip.partner.example. 300 IN A 192.0.2.1"}},
		"SRV _sipfederationtls._tcp.other.example": {delay: 150 * time.Millisecond,
			answer: []string{"_sipfederationtls._tcp.other.example. 300 IN SRV 10 1 5061 sip.other.example."},
			extra:  []string{"sip.other.example. 300 IN A 192.0.2.2"}},
	})
	r := newResolver(t, Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second})
	const callers = 32
	var wg sync.WaitGroup
	errs := make(chan error, 2*callers)
	for i := range 2 * callers {
		domain := []string{"partner.example", "other.example"}[i%2]
		wg.Go(func() {
			ans, err := r.LookupSRV(context.Background(), domain)
			if err == nil && len(ans.Records) != 1 {
				err = fmt.Errorf("%d records", len(ans.Records))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Queries("", "SRV _sipfederationtls._tcp.partner.example"); n != 1 {
		t.Errorf("partner.example: %d queries for %d concurrent lookups, want 1", n, callers)
	}
	if n := srv.Queries("", "SRV _sipfederationtls._tcp.other.example"); n != 1 {
		t.Errorf("other.example: %d queries, want 1", n)
	}
}

// A caller whose context ends stops waiting; the lookup goes on and fills the cache for the next.
func TestContextEndsWait(t *testing.T) {
	srv := startServer(t, map[string]answer{"SRV _sipfederationtls._tcp.partner.example": {delay: 300 * time.Millisecond,
		answer: []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 sip.partner.example."},
		extra:  []string{"sip.partner.example. 300 IN A 192.0.2.1"}}})
	r := newResolver(t, Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.LookupSRV(ctx, "partner.example")
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("error %v after %v, want a timeout at the context's deadline", err, time.Since(start))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		ans, err := r.LookupSRV(t.Context(), "partner.example")
		if err != nil {
			t.Fatal(err)
		}
		if ans.Cached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned lookup did not fill the cache")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.Queries("", "SRV _sipfederationtls._tcp.partner.example"); n > 2 {
		t.Fatalf("%d queries", n)
	}
}

// Servers are tried in order: one that times out or fails moves the lookup to the next.
func TestServerFailover(t *testing.T) {
	rec := []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 sip.partner.example."}
	extra := []string{"sip.partner.example. 300 IN A 192.0.2.1"}
	q := "SRV _sipfederationtls._tcp.partner.example"
	slow := startServer(t, map[string]answer{q: {delay: 500 * time.Millisecond, answer: rec, extra: extra}})
	failing := startServer(t, map[string]answer{q: {rcode: dns.RcodeServerFailure}})
	good := startServer(t, map[string]answer{q: {answer: rec, extra: extra}})

	r := newResolver(t, Config{Servers: []string{slow.Addr, failing.Addr, good.Addr}, Timeout: 100 * time.Millisecond})
	ans, err := r.LookupSRV(t.Context(), "partner.example")
	if err != nil || len(ans.Records) != 1 {
		t.Fatalf("%v %v", render(ans.Records), err)
	}
	for _, s := range []*testServer{slow, failing, good} {
		if s.Queries("", q) != 1 {
			t.Fatalf("server %s saw %d queries, want 1 each, in order", s.Addr, s.Queries("", q))
		}
	}

	// NXDOMAIN decides: the next server is not asked.
	nx := startServer(t, nil)
	good2 := startServer(t, map[string]answer{q: {answer: rec, extra: extra}})
	r = newResolver(t, Config{Servers: []string{nx.Addr, good2.Addr}})
	if _, err := r.LookupSRV(t.Context(), "partner.example"); !errors.Is(err, ErrNXDOMAIN) || good2.Total() != 0 {
		t.Fatalf("%v; second server asked %d times", err, good2.Total())
	}

	// When every server fails, the error is the last one's.
	r = newResolver(t, Config{Servers: []string{failing.Addr, slow.Addr}, Timeout: 100 * time.Millisecond})
	_, err = r.LookupSRV(t.Context(), "partner.example")
	var de *routing.DNSError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &de) || de.Server != slow.Addr {
		t.Fatalf("%v", err)
	}
}

// The cache holds at most CacheSize answers, dropping the least recently used.
func TestCacheBound(t *testing.T) {
	zone := map[string]answer{}
	for _, d := range []string{"a", "b", "c"} {
		zone["SRV _sipfederationtls._tcp."+d+".example"] = answer{answer: []string{"_sipfederationtls._tcp." + d + ".example. 300 IN SRV 1 1 5061 sip." + d + ".example."},
			extra: []string{"sip." + d + ".example. 300 IN A 192.0.2.1"}}
	}
	srv := startServer(t, zone)
	r := newResolver(t, Config{Servers: []string{srv.Addr}, CacheSize: 2})
	look := func(d string) bool {
		ans, err := r.LookupSRV(t.Context(), d+".example")
		if err != nil {
			t.Fatal(err)
		}
		return ans.Cached
	}
	look("a")
	look("b")
	if !look("a") { // a is now the most recently used
		t.Fatal("a not cached")
	}
	look("c") // evicts b
	if r.cache.len() != 2 {
		t.Fatalf("%d entries, bound 2", r.cache.len())
	}
	if !look("a") || look("b") {
		t.Fatal("eviction did not drop the least recently used")
	}
}

func TestServersFromResolvConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(path, []byte("search example.com\nnameserver 127.0.0.53\nnameserver ::1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newResolver(t, Config{ResolvConf: path})
	if got := r.Servers(); !slices.Equal(got, []string{"127.0.0.53:53", "[::1]:53"}) {
		t.Fatalf("servers %v", got)
	}
	r = newResolver(t, Config{Servers: []string{"127.0.0.1", "127.0.0.2:5353", "[::1]"}})
	if got := r.Servers(); !slices.Equal(got, []string{"127.0.0.1:53", "127.0.0.2:5353", "[::1]:53"}) {
		t.Fatalf("servers %v", got)
	}
	if _, err := New(Config{ResolvConf: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("no error for a missing resolv.conf")
	}
	if err := os.WriteFile(path, []byte("search example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{ResolvConf: path}); err == nil {
		t.Fatal("no error for a resolv.conf without nameserver")
	}
}

func TestMetrics(t *testing.T) {
	srv := startServer(t, map[string]answer{
		"SRV _sipfederationtls._tcp.partner.example": {truncateUDP: true,
			answer: []string{"_sipfederationtls._tcp.partner.example. 300 IN SRV 10 1 5061 sip.partner.example."},
			extra:  []string{"sip.partner.example. 300 IN A 192.0.2.1"}},
	})
	reg := prometheus.NewPedanticRegistry()
	r := newResolver(t, Config{Servers: []string{srv.Addr}, Registerer: reg})
	for range 2 {
		if _, err := r.LookupSRV(t.Context(), "partner.example"); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = r.LookupSRV(t.Context(), "nowhere.example")
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sipfed_dns_lookups_total", map[string]string{"type": "SRV", "result": "noerror"}, 1},
		{"sipfed_dns_lookups_total", map[string]string{"type": "SRV", "result": "cached"}, 1},
		{"sipfed_dns_lookups_total", map[string]string{"type": "SRV", "result": "nxdomain"}, 1},
		{"sipfed_dns_truncated_total", nil, 1},
		{"sipfed_dns_cache_entries", nil, 2},
		{"sipfed_dns_exchange_duration_seconds", map[string]string{"protocol": "tcp"}, 1}, // sample count
	} {
		if got := gathered(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if _, err := New(Config{Servers: []string{srv.Addr}, Registerer: reg}); err == nil {
		t.Error("registering twice: no error")
	}
}

// gathered returns a counter's or gauge's value, or a histogram's sample count, from reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			matched := 0
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok {
					if want != lp.GetValue() {
						continue metric
					}
					matched++
				}
			}
			if matched != len(labels) { // a label asked for that the metric does not have
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}
