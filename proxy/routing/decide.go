package routing

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Decision is the outcome of the routing chain. The relay reuses one per request path: Decide
// keeps its slices' capacity, so a decision that a static route with an IP literal answers does not
// allocate. A Decision is not safe for concurrent use.
type Decision struct {
	// Status is 0 when NextHops should be tried, in order, else the SIP status to answer: 403 (not
	// a federated domain, or a block route), 404 (no step of the chain found a next hop, and DNS
	// said so: NXDOMAIN or no records), 503 (no step found a next hop and a DNS lookup failed
	// for a while: SERVFAIL, timeout, refusal; the partner may well exist).
	Status int
	// Reason says why Status is not 0, fit for a Warning header: for 404 and 503 it names every
	// step tried and what it came to.
	Reason string
	// RetryAfter is set with Status 503: when to try again, the time until DNS is asked again
	// after the temporary failure (the relay's Retry-After). 0 otherwise.
	RetryAfter time.Duration
	NextHops   []NextHop
	// Steps is filled only by Explain.
	Steps []api.RouteStep

	trace  bool
	routes []*route    // scratch: a pattern's routes while they are ordered
	srv    []SRVRecord // scratch: SRV records while they are ordered
	tried  [4]tried    // the chain's steps and what they came to, for a 404's Reason
	ntried int
	// dnsTemporary: a lookup of the chain failed temporarily; dnsRetry is the soonest such a
	// failure leaves the resolver's cache (0: unknown).
	dnsTemporary bool
	dnsRetry     time.Duration
}

// noteDNS records a failed lookup of the chain: a temporary failure turns a 404 into a 503.
func (d *Decision) noteDNS(err error) {
	if !TemporaryDNSError(err) {
		return
	}
	d.dnsTemporary = true
	if r := retryAfter(err); r > 0 && (d.dnsRetry == 0 || r < d.dnsRetry) {
		d.dnsRetry = r
	}
}

// tried is one step of the chain and what it came to.
type tried struct {
	step, domain, result string
}

// Reset empties d for reuse, keeping its capacity.
func (d *Decision) Reset() {
	d.Status, d.Reason, d.RetryAfter = 0, "", 0
	d.dnsTemporary, d.dnsRetry = false, 0
	d.NextHops = d.NextHops[:0]
	d.Steps = d.Steps[:0]
	d.trace = false
	d.ntried = 0
}

// Decide runs the routing chain for req and fills d.
func (s *Snapshot) Decide(ctx context.Context, dns DNS, req Request, d *Decision) {
	d.Reset()
	s.decide(ctx, dns, req, d)
}

// Explain runs the same chain as Decide, recording every step.
func (s *Snapshot) Explain(ctx context.Context, dns DNS, req Request) api.RouteExplanation {
	d := Decision{trace: true}
	s.decide(ctx, dns, req, &d)
	return s.explanation(req, &d)
}

// The steps of the chain.
const (
	stepStatic = iota
	stepSRV
)

type chainStep struct {
	kind   int
	domain string
	// users: the step also tries route_type "user" routes. Only the static step of the request's
	// own domain does: a user route names users of the request, whatever the domain looked up.
	users bool
}

// chain is the list of DESIGN.md's Routing section and the reference's AOL steps 1-6.
func (s *Snapshot) chain(domain string, aol bool) ([4]chainStep, int) {
	def := s.opts.DefaultFederationRoutingDomain
	switch {
	case !aol: // lync: static(D), SRV(D)
		return [4]chainStep{{stepStatic, domain, true}, {stepSRV, domain, false}}, 2
	case domain != def: // aol steps 1-4: static(D), SRV(D), static(default), SRV(default)
		return [4]chainStep{{stepStatic, domain, true}, {stepSRV, domain, false}, {stepStatic, def, false}, {stepSRV, def, false}}, 4
	default: // aol steps 5-6: static(default), SRV(default)
		return [4]chainStep{{stepStatic, def, true}, {stepSRV, def, false}}, 2
	}
}

// Outcomes of a step. A step that found next hops ends the chain; a blocked one ends it with 403;
// the others let it go on.
const (
	resultMatched = "matched"
	resultNone    = "no match"
	resultBlocked = "blocked"
)

func (s *Snapshot) decide(ctx context.Context, dns DNS, req Request, d *Decision) {
	domain := normalizeName(req.Domain)
	info, ok := s.domains.get(domain)
	if !ok {
		d.Status, d.Reason = 403, "domain is not federated"
		if d.trace {
			d.Steps = append(d.Steps, api.RouteStep{Step: api.StepFederated, Domain: domain, Outcome: api.OutcomeRejected,
				Detail: "not a federated domain: no open relay"})
		}
		return
	}
	if d.trace {
		typ := api.DomainTypeLync
		if info.aol {
			typ = api.DomainTypeAOL
		}
		d.Steps = append(d.Steps, api.RouteStep{Step: api.StepFederated, Domain: domain, Outcome: api.OutcomeMatched,
			Detail: "federated domain of type " + typ})
	}
	steps, n := s.chain(domain, info.aol)
	for i, st := range steps[:n] {
		var result string
		if st.kind == stepStatic {
			var block *route
			result, block = s.staticStep(ctx, dns, req.User, st, d)
			if block != nil {
				d.Status, d.Reason = 403, "blocked by static route "+block.id+" ("+block.pattern+")"
			}
		} else {
			result = s.srvStep(ctx, dns, st.domain, d)
		}
		d.tried[i] = tried{stepName(st.kind), st.domain, result}
		d.ntried = i + 1
		if d.Status != 0 || len(d.NextHops) > 0 {
			if d.trace {
				for _, rest := range steps[i+1 : n] {
					d.Steps = append(d.Steps, api.RouteStep{Step: stepName(rest.kind), Domain: rest.domain, Outcome: api.OutcomeSkipped,
						Detail: "an earlier step decided"})
				}
			}
			return
		}
	}
	if d.dnsTemporary {
		d.Status, d.Reason = 503, dnsFailureReason(domain, d.tried[:d.ntried])
		// At least a second: Retry-After is in whole seconds, and 0 would invite a retry now.
		d.RetryAfter = max(cmp.Or(d.dnsRetry, DefaultRetryAfter), time.Second)
		return
	}
	d.Status, d.Reason = 404, notFoundReason(domain, d.tried[:d.ntried])
}

func stepName(kind int) string {
	if kind == stepStatic {
		return api.StepStatic
	}
	return api.StepSRV
}

// notFoundReason names every step tried: "no route to x.com: static x.com: no match; srv x.com:
// NXDOMAIN". It goes into a Warning header, so it holds no double quote.
func notFoundReason(domain string, steps []tried) string {
	return stepsReason("no route to "+domain+": ", steps)
}

// dnsFailureReason is a 503's Reason: "DNS failed for x.com, try again later: static x.com: no
// match; srv x.com: SERVFAIL".
func dnsFailureReason(domain string, steps []tried) string {
	return stepsReason("DNS failed for "+domain+", try again later: ", steps)
}

func stepsReason(prefix string, steps []tried) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i, t := range steps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(t.step)
		b.WriteByte(' ')
		b.WriteString(t.domain)
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(t.result, `"`, "'"))
	}
	return b.String()
}
