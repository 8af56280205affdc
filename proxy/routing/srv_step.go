package routing

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// srvStep discovers domain's federation edge through _sipfederationtls._tcp.<domain> and appends
// a next hop (TLS) per address of each target, in RFC 2782 order. It returns the step's result; a
// DNS failure is a result like any other: the chain moves on.
func (s *Snapshot) srvStep(ctx context.Context, dns DNS, domain string, d *Decision) string {
	var ans SRVAnswer
	var err error
	if dns == nil {
		err = &DNSError{Name: api.FederationSRVName(domain), Type: "SRV", Err: errNoResolver}
	} else {
		ans, err = dns.LookupSRV(ctx, domain)
	}
	if err == nil && len(ans.Records) == 0 {
		err = &DNSError{Name: api.FederationSRVName(domain), Type: "SRV", Err: ErrNoRecords}
	}
	var step *api.RouteStep
	if d.trace {
		d.Steps = append(d.Steps, api.RouteStep{Step: api.StepSRV, Domain: domain, Outcome: api.OutcomeMatched, Cached: ans.Cached})
		step = &d.Steps[len(d.Steps)-1]
	}
	if err != nil {
		d.noteDNS(err)
		code := DNSErrorCode(err)
		if step != nil {
			step.Outcome, step.DNSError, step.Detail, step.Cached = api.OutcomeError, code, err.Error(), dnsErrorCached(err)
			if errorsIsNoRecords(err) {
				step.Outcome = api.OutcomeNone
			}
		}
		return code
	}

	// Order a copy: the answer's records are shared with the resolver's cache.
	d.srv = append(d.srv[:0], ans.Records...)
	slices.SortFunc(d.srv, func(a, b SRVRecord) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Weight, b.Weight))
	})
	orderByPriority(d.srv, srvPriority, srvWeight, s.random)

	before, failure := len(d.NextHops), ""
	for _, rec := range d.srv {
		target := strings.TrimSuffix(rec.Target, ".")
		var rs *api.SRVRecord
		if step != nil {
			step.SRVRecords = append(step.SRVRecords, api.SRVRecord{Priority: int(rec.Priority), Weight: int(rec.Weight),
				Port: int(rec.Port), Target: target, Addresses: []string{}})
			rs = &step.SRVRecords[len(step.SRVRecords)-1]
		}
		if target == "" { // RFC 2782: a target of "." means the service is decidedly not offered
			failure = firstNonEmpty(failure, "service not offered")
			if step != nil {
				step.Detail = joinDetail(step.Detail, `target ".": the domain offers no federation service`)
			}
			continue
		}
		addrs := rec.Addrs
		if len(addrs) == 0 {
			a, err := lookupAddrs(ctx, dns, target)
			if err != nil {
				d.noteDNS(err)
				failure = firstNonEmpty(failure, "target "+DNSErrorCode(err))
				if step != nil {
					step.Detail = joinDetail(step.Detail, "target "+target+": "+err.Error())
				}
				continue
			}
			addrs = a.Addrs
		}
		for _, a := range addrs {
			d.NextHops = append(d.NextHops, NextHop{Addr: netip.AddrPortFrom(a.Unmap(), rec.Port), Transport: api.ProtocolTLS,
				Host: target, Step: api.StepSRV})
			if rs != nil {
				rs.Addresses = append(rs.Addresses, a.Unmap().String())
			}
		}
	}
	clear(d.srv) // do not keep the resolver's answers alive through a pooled Decision
	if len(d.NextHops) == before {
		if step != nil {
			step.Outcome = api.OutcomeError
		}
		return firstNonEmpty(failure, "no addresses")
	}
	return resultMatched
}

func srvPriority(r SRVRecord) uint16 { return r.Priority }
func srvWeight(r SRVRecord) uint64   { return uint64(r.Weight) }

func errorsIsNoRecords(err error) bool { return DNSErrorCode(err) == ErrNoRecords.Error() }
