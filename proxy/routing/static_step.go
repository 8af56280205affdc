package routing

import (
	"context"
	"net/netip"
	"strings"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// staticStep looks up the static routes for domain (and, when st.users, the request's user) and
// appends their next hops to d.
//
// Candidate patterns, most specific first: user routes (exact, then prefixes, longest first), then
// domain routes (exact, then the wildcard of the domain itself, then the wildcards of each parent
// domain, then ".*"). The first candidate that has in-service routes wins and its routes become
// next hops, ordered by priority and weight. If every route of the winner allows less specific
// routes (allow_less_specific), the next matching candidate's routes follow, and so on: the relay
// fails over down the list, so a less specific pattern is tried only after the more specific one
// failed. A pattern with an in-service block route answers 403 when it wins; met after a winner, it
// ends the list (nothing less specific follows a block).
//
// It returns the step's result and, when it answered 403, the block route.
func (s *Snapshot) staticStep(ctx context.Context, dns DNS, user string, st chainStep, d *Decision) (string, *route) {
	w := walk{s: s, ctx: ctx, dns: dns, d: d, domain: st.domain, start: len(d.NextHops)}
	if st.users && user != "" {
		if p, ok := s.userExact.get(user); ok && !w.offer(p) {
			return w.result()
		}
		for _, n := range s.userPrefixLens {
			if n > len(user) {
				continue
			}
			if p, ok := s.userPrefix.get(user[:n]); ok && !w.offer(p) {
				return w.result()
			}
		}
	}
	domain := st.domain
	if pp, ok := s.patterns.get(domain); ok {
		if !w.offer(pp.exact) || !w.offer(pp.wild) {
			return w.result()
		}
	}
	for i := 0; i < len(domain); i++ {
		if domain[i] != '.' {
			continue
		}
		if pp, ok := s.patterns.get(domain[i+1:]); ok && !w.offer(pp.wild) {
			return w.result()
		}
	}
	if pp, ok := s.patterns.get(""); ok {
		w.offer(pp.wild)
	}
	return w.result()
}

// walk is one static step's state while it goes through candidate patterns.
type walk struct {
	s       *Snapshot
	ctx     context.Context
	dns     DNS
	d       *Decision
	domain  string
	start   int    // len(d.NextHops) when the step began
	matched int    // patterns whose routes were added
	block   *route // the block route that answered 403
	dnsErr  string // the first name resolution failure, for a step that found no next hop
}

// offer takes one candidate pattern (nil: none at this level) and reports whether the walk goes on.
func (w *walk) offer(p *pattern) bool {
	if p == nil {
		return true
	}
	if p.blocked {
		if len(w.d.NextHops) == w.start {
			w.block = p.routes[0]
		}
		if w.d.trace {
			detail := "block route: the request is refused"
			if w.block == nil {
				detail = "block route: no less specific pattern follows"
			}
			w.d.Steps = append(w.d.Steps, api.RouteStep{Step: api.StepStatic, Domain: w.domain, Outcome: api.OutcomeBlocked,
				Pattern: p.text(), RouteIDs: []string{p.routes[0].id}, Detail: detail})
		}
		return false
	}
	w.matched++
	w.addRoutes(p)
	return p.lessSpecific
}

// addRoutes appends the next hops of p's routes in the order they are tried.
func (w *walk) addRoutes(p *pattern) {
	d := w.d
	d.routes = append(d.routes[:0], p.routes...)
	orderByPriority(d.routes, routePriority, routeWeight, w.s.random)
	var step *api.RouteStep
	if d.trace {
		detail := ""
		if w.matched > 1 {
			detail = "allow_less_specific: after the more specific pattern's routes"
		}
		d.Steps = append(d.Steps, api.RouteStep{Step: api.StepStatic, Domain: w.domain, Outcome: api.OutcomeMatched,
			Pattern: p.text(), Detail: detail, Cached: true})
		step = &d.Steps[len(d.Steps)-1]
	}
	before, lookups := len(d.NextHops), 0
	for _, r := range d.routes {
		if step != nil {
			step.RouteIDs = append(step.RouteIDs, r.id)
		}
		hop := NextHop{Addr: r.addr, Transport: protocols[r.proto], Host: r.host, Step: api.StepStatic, RouteID: r.id}
		if r.addr.IsValid() {
			d.NextHops = append(d.NextHops, hop)
			continue
		}
		lookups++
		ans, err := lookupAddrs(w.ctx, w.dns, r.host)
		if step != nil && !ans.Cached && !dnsErrorCached(err) {
			step.Cached = false
		}
		if err != nil {
			d.noteDNS(err)
			code := DNSErrorCode(err)
			if w.dnsErr == "" {
				w.dnsErr = code
			}
			if step != nil {
				step.DNSError = firstNonEmpty(step.DNSError, code)
				step.Detail = joinDetail(step.Detail, "route "+r.id+": "+r.host+": "+err.Error())
			}
			continue
		}
		for _, a := range ans.Addrs {
			hop.Addr = netip.AddrPortFrom(a.Unmap(), r.port)
			d.NextHops = append(d.NextHops, hop)
		}
	}
	clear(d.routes) // do not keep this snapshot's routes alive through a pooled Decision
	if step != nil {
		step.Cached = step.Cached && lookups > 0
		if len(d.NextHops) == before {
			step.Outcome = api.OutcomeError
		}
	}
}

func (w *walk) result() (string, *route) {
	switch {
	case w.block != nil:
		return resultBlocked, w.block
	case len(w.d.NextHops) > w.start:
		return resultMatched, nil
	case w.matched > 0 && w.dnsErr != "":
		return "next hop " + w.dnsErr, nil
	}
	if w.d.trace && w.matched == 0 {
		w.d.Steps = append(w.d.Steps, api.RouteStep{Step: api.StepStatic, Domain: w.domain, Outcome: api.OutcomeNone,
			Detail: "no in-service static route matches"})
	}
	return resultNone, nil
}

func routePriority(r *route) uint16 { return r.priority }
func routeWeight(r *route) uint64   { return uint64(r.weight) }

// lookupAddrs resolves a next hop's name; a nil DNS is an error, not a panic, so that a proxy
// without resolvers still answers with the steps it could take.
func lookupAddrs(ctx context.Context, dns DNS, host string) (AddrAnswer, error) {
	if dns == nil {
		return AddrAnswer{}, &DNSError{Name: host, Type: "A/AAAA", Err: errNoResolver}
	}
	ans, err := dns.LookupAddrs(ctx, host)
	if err == nil && len(ans.Addrs) == 0 {
		err = &DNSError{Name: host, Type: "A/AAAA", Err: ErrNoRecords}
	}
	return ans, err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + strings.TrimSpace(b)
}
