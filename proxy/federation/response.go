package federation

import (
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
)

// EditResponse implements core.Policy: a response going to a partner hides what is internal; one
// going to the internal side gets back the route set it sealed.
func (p *Policy) EditResponse(flow *core.Flow, res *message.Msg, e *message.Edit) {
	if !flow.Hide {
		return
	}
	_, hasRR := res.First(message.RecordRoute)
	if flow.ToExternal {
		if hasRR {
			p.use(e, rwExpandRR)
		}
		return
	}
	mode := rwHideContact
	if hasRR {
		mode |= rwHideRespRR
	}
	p.use(e, mode)
	e.Drop = p.scrub
}
