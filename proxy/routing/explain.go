package routing

import (
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// explanation turns a traced decision into what GET /v1/route answers. URI is left to the caller,
// which parsed it.
func (s *Snapshot) explanation(req Request, d *Decision) api.RouteExplanation {
	ex := api.RouteExplanation{
		User:   req.User,
		Domain: normalizeName(req.Domain),
		Status: d.Status,
		Reason: d.Reason,
		// Whole seconds, rounded up: Retry-After 0 would invite an immediate retry.
		RetryAfter: int((d.RetryAfter + time.Second - 1) / time.Second),
		Steps:      d.Steps,
		NextHops:   make([]api.RouteNextHop, 0, len(d.NextHops)),
		Revision:   s.revision,
	}
	if ex.Steps == nil {
		ex.Steps = []api.RouteStep{}
	}
	for _, h := range d.NextHops {
		ex.NextHops = append(ex.NextHops, api.RouteNextHop{
			Address: h.Addr.Addr().String(), Port: int(h.Addr.Port()), Transport: h.Transport,
			Host: h.Host, Step: h.Step, RouteID: h.RouteID,
		})
	}
	if d.Status == 0 && len(d.NextHops) > 0 {
		ex.Reason = "routed by " + d.NextHops[0].Step + " step"
		for _, st := range d.Steps { // the first step that matched gave the first next hop
			if st.Outcome == api.OutcomeMatched && st.Step != api.StepFederated {
				ex.Reason = "routed by the " + st.Step + " step for " + st.Domain
				if st.Pattern != "" {
					ex.Reason += " (pattern " + st.Pattern + ")"
				}
				break
			}
		}
	}
	return ex
}
