// Package discovery finds partners' federation edges in DNS: _sipfederationtls._tcp SRV records
// and the A/AAAA addresses of their targets, and the addresses of static routes' next hop names.
// Its Resolver implements routing.DNS. Answers are cached for their TTL and failures briefly (a
// negative cache), and one lookup per name is in flight at a time, so a burst of requests toward a
// partner costs one query.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// Config configures a Resolver. Zero values take the defaults.
type Config struct {
	// Servers are the resolvers to ask, as "host:port" ("host" alone means port 53), tried in
	// order. Empty: the nameservers of ResolvConf.
	Servers    []string
	ResolvConf string // default /etc/resolv.conf
	// Timeout bounds one query to one server (UDP, and TCP after truncation each get it).
	// Default 2s.
	Timeout time.Duration
	// NegativeTTL is how long a failure is cached when the answer gives no better figure: SERVFAIL,
	// timeout, and NXDOMAIN or no records without a SOA. Default 10s.
	NegativeTTL time.Duration
	// MaxNegativeTTL caps the RFC 2308 negative TTL that a SOA gives NXDOMAIN and no-records
	// answers, so that a partner who just published its records is found soon. Default 5m.
	MaxNegativeTTL time.Duration
	// MaxTTL caps how long an answer is cached, whatever its TTL. Default 1h.
	MaxTTL time.Duration
	// CacheSize bounds the number of cached answers (SRV, A and AAAA apart). Default 10,000.
	CacheSize int
	// Registerer receives the resolver's metrics; nil: none.
	Registerer prometheus.Registerer
	// Now is the clock of the cache; nil: time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultResolvConf     = "/etc/resolv.conf"
	DefaultTimeout        = 2 * time.Second
	DefaultNegativeTTL    = 10 * time.Second
	DefaultMaxNegativeTTL = 5 * time.Minute
	DefaultMaxTTL         = time.Hour
	DefaultCacheSize      = 10_000
)

// SRVService is the owner name prefix of a partner's federation SRV records.
const SRVService = "_sipfederationtls._tcp."

// Errors, as routing names them; a failed lookup returns a *routing.DNSError that wraps one.
var (
	ErrNXDOMAIN  = routing.ErrNXDOMAIN
	ErrSERVFAIL  = routing.ErrSERVFAIL
	ErrTimeout   = routing.ErrTimeout
	ErrNoRecords = routing.ErrNoRecords
)

// Resolver looks up SRV and address records with caching. It is safe for concurrent use.
type Resolver struct {
	cfg      Config
	servers  []string
	udp, tcp *dns.Client
	cache    *cache
	flight   singleflight.Group
	metrics  *metrics
}

var _ routing.DNS = (*Resolver)(nil)

// New makes a Resolver.
func New(cfg Config) (*Resolver, error) {
	cfg.Timeout = orDuration(cfg.Timeout, DefaultTimeout)
	cfg.NegativeTTL = orDuration(cfg.NegativeTTL, DefaultNegativeTTL)
	cfg.MaxNegativeTTL = orDuration(cfg.MaxNegativeTTL, DefaultMaxNegativeTTL)
	cfg.MaxTTL = orDuration(cfg.MaxTTL, DefaultMaxTTL)
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = DefaultResolvConf
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Resolver{
		cfg:   cfg,
		udp:   &dns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: ednsSize},
		tcp:   &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		cache: newCache(cfg.CacheSize),
	}
	servers := cfg.Servers
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile(cfg.ResolvConf)
		if err != nil {
			return nil, fmt.Errorf("discovery: no DNS server given and %s unreadable: %w", cfg.ResolvConf, err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("discovery: no DNS server given and none in %s", cfg.ResolvConf)
		}
	}
	for _, s := range servers {
		addr, err := serverAddr(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, addr)
	}
	var err error
	if r.metrics, err = newMetrics(cfg.Registerer, r.cache); err != nil {
		return nil, fmt.Errorf("discovery: metrics: %w", err)
	}
	return r, nil
}

// serverAddr completes "host" to "host:53" and checks the form.
func serverAddr(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if host == "" || strings.ContainsAny(host, " /") {
		return "", fmt.Errorf("discovery: DNS server %q: want host:port", s)
	}
	return net.JoinHostPort(host, "53"), nil
}

// Servers returns the DNS servers the resolver asks, in order.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// Flush empties the cache.
func (r *Resolver) Flush() { r.cache.flush() }

// lookup answers name/qtype from the cache, or asks the servers, one lookup per name and type at a
// time: concurrent callers wait for the lookup in flight and share its answer. A caller whose
// context ends stops waiting; the lookup goes on for the others, bounded by the timeouts.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (e *entry, cached bool, err error) {
	if e, ok := r.fromCache(name, qtype); ok {
		return e, true, nil
	}
	typ := dns.TypeToString[qtype]
	key := typ + " " + name
	ch := r.flight.DoChan(key, func() (any, error) {
		if e, ok := r.cache.get(key, r.cfg.Now()); ok {
			return e, nil
		}
		e := r.resolve(context.WithoutCancel(ctx), key, name, qtype)
		r.cache.put(e)
		return e, nil
	})
	if isNonBlocking(ctx) {
		return nil, false, &routing.DNSError{Name: hostName(name), Type: typ, Err: ErrWouldBlock}
	}
	select {
	case res := <-ch:
		return res.Val.(*entry), false, nil
	case <-ctx.Done():
		err := classify(ctx.Err())
		return nil, false, &routing.DNSError{Name: hostName(name), Type: typ, Err: err}
	}
}

// fromCache returns the cached answer to name/qtype, if there is one.
func (r *Resolver) fromCache(name string, qtype uint16) (*entry, bool) {
	typ := dns.TypeToString[qtype]
	e, ok := r.cache.get(typ+" "+name, r.cfg.Now())
	if ok {
		r.metrics.lookup(typ, "cached")
	}
	return e, ok
}

// resolve asks the servers and makes the cache entry of the answer, or of the failure.
func (r *Resolver) resolve(ctx context.Context, key, name string, qtype uint16) *entry {
	typ := dns.TypeToString[qtype]
	now := r.cfg.Now()
	resp, server, err := r.query(ctx, name, qtype)
	fail := func(cause error, ttl time.Duration) *entry {
		r.metrics.lookup(typ, resultLabel(cause))
		return &entry{key: key, expires: now.Add(ttl), err: &routing.DNSError{Name: hostName(name), Type: typ, Server: server, Err: cause}}
	}
	if err != nil {
		return fail(err, r.cfg.NegativeTTL)
	}
	if resp.Rcode == dns.RcodeNameError {
		return fail(routing.ErrNXDOMAIN, r.negativeTTL(resp))
	}
	e := &entry{key: key}
	ttl := r.cfg.MaxTTL
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Rrtype != qtype || h.Class != dns.ClassINET {
			continue // a CNAME on the way, or an unrelated record
		}
		ttl = min(ttl, time.Duration(h.Ttl)*time.Second)
		switch rr := rr.(type) {
		case *dns.SRV:
			e.srv = append(e.srv, routing.SRVRecord{Priority: rr.Priority, Weight: rr.Weight, Port: rr.Port, Target: hostName(rr.Target)})
		case *dns.A:
			if a, ok := addrFrom(rr.A); ok {
				e.addrs = append(e.addrs, a)
			}
		case *dns.AAAA:
			if a, ok := addrFrom(rr.AAAA); ok {
				e.addrs = append(e.addrs, a)
			}
		}
	}
	if len(e.srv) == 0 && len(e.addrs) == 0 {
		return fail(routing.ErrNoRecords, r.negativeTTL(resp))
	}
	if qtype == dns.TypeSRV {
		ttl = min(ttl, r.attachAdditional(e.srv, resp.Extra))
	}
	r.metrics.lookup(typ, "noerror")
	e.expires = now.Add(ttl)
	return e
}

// negativeTTL is RFC 2308's: the smaller of the SOA's TTL and MINIMUM field, capped; without a
// SOA, the configured NegativeTTL.
func (r *Resolver) negativeTTL(resp *dns.Msg) time.Duration {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, r.cfg.MaxNegativeTTL)
		}
	}
	return r.cfg.NegativeTTL
}

func resultLabel(err error) string {
	switch {
	case errors.Is(err, routing.ErrNXDOMAIN):
		return "nxdomain"
	case errors.Is(err, routing.ErrSERVFAIL):
		return "servfail"
	case errors.Is(err, routing.ErrTimeout):
		return "timeout"
	case errors.Is(err, routing.ErrRefused):
		return "refused"
	case errors.Is(err, routing.ErrServer):
		return "server_error"
	case errors.Is(err, routing.ErrNoRecords):
		return "no_records"
	}
	return "error"
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
