package discovery

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// LookupSRV looks up _sipfederationtls._tcp.<domain> and the addresses of its targets: from the
// answer's additional section when it carries them, else through LookupAddrs. A target that does
// not resolve is returned without addresses (routing asks again and explains why). Records come in
// DNS order: ordering them is routing's job. The answer is shared with the cache: do not modify it.
func (r *Resolver) LookupSRV(ctx context.Context, domain string) (routing.SRVAnswer, error) {
	name := SRVService + dns.Fqdn(strings.ToLower(strings.TrimSuffix(domain, ".")))
	e, cached, err := r.lookup(ctx, name, dns.TypeSRV)
	if err != nil {
		return routing.SRVAnswer{}, err
	}
	if e.err != nil {
		return routing.SRVAnswer{}, r.cachedError(e, cached)
	}
	ans := routing.SRVAnswer{Records: e.srv, TTL: r.remaining(e), Cached: cached}
	copied := false
	for i, rec := range e.srv {
		if len(rec.Addrs) > 0 || rec.Target == "." {
			continue
		}
		a, err := r.LookupAddrs(ctx, rec.Target)
		if err != nil {
			continue
		}
		if !copied { // e.srv is shared with the cache and other callers
			ans.Records, copied = append([]routing.SRVRecord(nil), e.srv...), true
		}
		ans.Records[i].Addrs = a.Addrs
		ans.TTL = min(ans.TTL, a.TTL)
		ans.Cached = ans.Cached && a.Cached
	}
	return ans, nil
}

// LookupAddrs resolves a host name to its IPv4 then IPv6 addresses, asking A and AAAA at once. An
// IP literal is its own answer. It fails only when neither type has an address.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) (routing.AddrAnswer, error) {
	host = strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return routing.AddrAnswer{Addrs: []netip.Addr{a.Unmap()}, TTL: r.cfg.MaxTTL}, nil
	}
	name := dns.Fqdn(strings.ToLower(host))
	type result struct {
		e      *entry
		cached bool
		err    error
	}
	var four, six result
	four.e, four.cached = r.fromCache(name, dns.TypeA)
	six.e, six.cached = r.fromCache(name, dns.TypeAAAA)
	switch {
	case four.e == nil && six.e == nil: // ask both at once
		aaaa := make(chan result, 1)
		go func() {
			e, cached, err := r.lookup(ctx, name, dns.TypeAAAA)
			aaaa <- result{e, cached, err}
		}()
		four.e, four.cached, four.err = r.lookup(ctx, name, dns.TypeA)
		six = <-aaaa
	case four.e == nil:
		four.e, four.cached, four.err = r.lookup(ctx, name, dns.TypeA)
	case six.e == nil:
		six.e, six.cached, six.err = r.lookup(ctx, name, dns.TypeAAAA)
	}

	var ans routing.AddrAnswer
	ans.TTL, ans.Cached = r.cfg.MaxTTL, four.cached && six.cached
	var errs [2]*routing.DNSError
	for i, res := range []result{four, six} {
		switch {
		case res.err != nil:
			errs[i] = asDNSError(res.err, name)
		case res.e.err != nil:
			errs[i] = r.cachedError(res.e, res.cached)
		default:
			ans.Addrs = append(ans.Addrs, res.e.addrs...)
			ans.TTL = min(ans.TTL, r.remaining(res.e))
		}
	}
	if len(ans.Addrs) > 0 {
		return ans, nil
	}
	// Neither type answered: say what happened, preferring the A lookup's failure unless it only
	// found no records.
	e := errs[0]
	if errors.Is(e, routing.ErrNoRecords) {
		e = errs[1]
	}
	out := *e
	out.Type, out.Name = "A/AAAA", hostName(name)
	out.Cached = errs[0].Cached && errs[1].Cached
	return routing.AddrAnswer{}, &out
}

// attachAdditional gives the SRV records the addresses the additional section carries for their
// targets and returns the smallest TTL of those it used.
func (r *Resolver) attachAdditional(recs []routing.SRVRecord, extra []dns.RR) time.Duration {
	ttl := r.cfg.MaxTTL
	for i := range recs {
		for _, rr := range extra {
			h := rr.Header()
			if h.Class != dns.ClassINET || hostName(h.Name) != recs[i].Target {
				continue
			}
			var a netip.Addr
			var ok bool
			switch rr := rr.(type) {
			case *dns.A:
				a, ok = addrFrom(rr.A)
			case *dns.AAAA:
				a, ok = addrFrom(rr.AAAA)
			}
			if ok {
				recs[i].Addrs = append(recs[i].Addrs, a)
				ttl = min(ttl, time.Duration(h.Ttl)*time.Second)
			}
		}
		sortFamilies(recs[i].Addrs)
	}
	return ttl
}

// sortFamilies puts IPv4 addresses before IPv6 ones, keeping DNS order within each, as
// LookupAddrs does.
func sortFamilies(addrs []netip.Addr) {
	for i := 1; i < len(addrs); i++ {
		for j := i; j > 0 && addrs[j].Is4() && !addrs[j-1].Is4(); j-- {
			addrs[j], addrs[j-1] = addrs[j-1], addrs[j]
		}
	}
}

// remaining is how long an entry stays cached from now.
func (r *Resolver) remaining(e *entry) time.Duration {
	return max(e.expires.Sub(r.cfg.Now()), 0).Truncate(time.Second)
}

// cachedError returns a cached failure as its own value (the cached one is shared), with Cached
// set and RetryAfter the time it stays cached: asking sooner gets the same failure.
func (r *Resolver) cachedError(e *entry, cached bool) *routing.DNSError {
	out := *e.err
	out.Cached = cached
	out.RetryAfter = max(e.expires.Sub(r.cfg.Now()), 0)
	return &out
}

func asDNSError(err error, name string) *routing.DNSError {
	var de *routing.DNSError
	if errors.As(err, &de) {
		return de
	}
	return &routing.DNSError{Name: hostName(name), Err: err}
}

// hostName is a DNS name as routing shows it: lower case, no trailing dot ("." stays "." : the
// RFC 2782 "no service" target).
func hostName(fqdn string) string {
	if fqdn == "." {
		return fqdn
	}
	return strings.ToLower(strings.TrimSuffix(fqdn, "."))
}

func addrFrom(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
