package relay

import (
	"context"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// handle runs for every request that opens a server transaction, on a worker (see workers).
// Retransmissions while a transaction lives, CANCELs of a pending INVITE and ACKs of a non-2xx
// final response never get here: the server transaction absorbs them.
func (r *Relay) handle(s *side, req *sip.Request, tx *sip.ServerTx) {
	dir := dirOutbound
	if s == r.ex {
		dir = dirInbound
	}
	r.m.request(dir)
	switch {
	case req.IsAck():
		// An ACK of a 2xx is a request of its own (new branch) and follows the dialog's route.
		r.forwardAck(dir, req)
		tx.Terminate()
		return
	case req.IsCancel():
		r.respond(dir, tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	case r.answerRetransmission(tx, req):
		return
	}
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.CSeq().MethodName != req.Method {
		r.respond(dir, tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		r.respond(dir, tx, req, sip.StatusTooManyHops, "Too Many Hops")
		return
	}
	lh := loopHash(req)
	if r.isLoop(req, lh) {
		r.respond(dir, tx, req, sip.StatusLoopDetected, "Loop Detected")
		return
	}
	snap := r.snaps.Load()
	if snap == nil || r.closing.Load() {
		r.respond(dir, tx, req, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	if req.Method == sip.OPTIONS && !hasTag(req.To()) && r.isSelf(snap, &req.Recipient) {
		r.respond(dir, tx, req, sip.StatusOK, "OK", sip.NewHeader("Allow", allowed))
		return
	}
	if !snap.ServiceEnabled() {
		r.respond(dir, tx, req, sip.StatusServiceUnavailable, "Service Unavailable", warning(snap, "the federation service is off"))
		return
	}
	// Shed new work first: requests within a dialog (BYE, NOTIFY) finish what was accepted.
	if !hasTag(req.To()) && r.overload.shedding() {
		r.shed(dir, tx, req)
		return
	}
	if n := r.inflight.Add(1); n > int64(r.cfg.MaxInFlight) {
		r.inflight.Add(-1)
		r.shed(dir, tx, req)
		return
	}
	r.m.inflight.Inc()
	defer func() {
		r.m.inflight.Dec()
		r.inflight.Add(-1)
	}()
	if dir == dirInbound {
		r.inbound(snap, req, tx, lh)
	} else {
		r.outbound(snap, req, tx, lh)
	}
}

func (r *Relay) shed(dir string, tx *sip.ServerTx, req *sip.Request) {
	r.m.shed.Inc()
	r.respond(dir, tx, req, sip.StatusServiceUnavailable, "Service Unavailable", retryAfter)
}

var retryAfter = sip.NewHeader("Retry-After", "1")

const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE, PRACK, PUBLISH"

// inbound handles a request from a partner: incoming ACL, then the internal next hop.
func (r *Relay) inbound(snap *routing.Snapshot, req *sip.Request, tx *sip.ServerTx, lh uint32) {
	lc := logCtx{dir: dirInbound}
	if cert := peerCert(tx.Connection()); cert != nil {
		// The handshake checked the identity; checking again here makes a peer subject
		// deleted since then effective on connections already open.
		subject, ok := identity.Match(cert, snap.IsPeerSubject)
		if !ok {
			r.log.Info("request refused: peer identity is no longer a TLS peer subject",
				"subject", strings.Join(identity.Of(cert), ","), "remote", req.Source())
			r.respond(dirInbound, tx, req, sip.StatusForbidden, "Forbidden", warning(snap, "peer identity is not a TLS peer subject"))
			return
		}
		lc.subject = subject
	}
	from := domainOf(&req.From().Address)
	lc.domain = from
	if _, ok := snap.Domain(from); !ok {
		r.logger(&lc).Debug("request refused: From domain is not federated", "domain", from, "remote", req.Source())
		r.respond(dirInbound, tx, req, sip.StatusForbidden, "Forbidden", warning(snap, "From domain "+from+" is not a federated domain"))
		return
	}
	inDialog := hasTag(req.To())
	target := domainOf(&req.Recipient)
	if inDialog {
		// Mid-dialog the Request-URI is a contact; the local party is in To.
		target = domainOf(&req.To().Address)
	}
	if !snap.IsLocal(target) {
		r.logger(&lc).Debug("request refused: not for a local domain", "domain", target, "remote", req.Source())
		r.respond(dirInbound, tx, req, sip.StatusForbidden, "Forbidden", warning(snap, target+" is not a local domain"))
		return
	}
	hops, err := r.internalHops(r.ctx)
	if err != nil {
		r.logger(&lc).Warn("internal next hop does not resolve", "next_hop", r.cfg.InternalNextHop.String(), "error", err)
		r.respond(dirInbound, tx, req, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	var rr []sip.Header
	if !inDialog {
		// Two entries (RFC 5658): the top one is what the internal side routes to, the other
		// what the partner routes to.
		rr = []sip.Header{r.internalRR(hops[0].Transport), r.externalRR(snap.RecordRouteHost(from))}
	}
	f := r.prepare(req, lh, rr, snap.RoutingFQDN(), snap.NodeFQDN())
	r.forward(r.in, dirInbound, f, tx, hops, "", lc)
}

// outbound handles a request from the internal side: the routing decision, then the partner.
func (r *Relay) outbound(snap *routing.Snapshot, req *sip.Request, tx *sip.ServerTx, lh uint32) {
	if req.Recipient.Scheme != "sip" && req.Recipient.Scheme != "sips" {
		r.respond(dirOutbound, tx, req, 416, "Unsupported URI Scheme")
		return
	}
	if hasTag(req.To()) {
		r.outboundInDialog(snap, req, tx, lh)
		return
	}
	domain := domainOf(&req.Recipient)
	d := r.decisions.Get().(*routing.Decision)
	defer r.decisions.Put(d)
	snap.Decide(r.ctx, r.dns, routing.Request{User: req.Recipient.User, Domain: domain}, d)
	if d.Status != 0 {
		reason := "Forbidden"
		switch d.Status {
		case sip.StatusNotFound:
			reason = "Not Found"
		case sip.StatusServiceUnavailable:
			reason = "Service Unavailable"
		}
		r.log.Debug("request refused by routing", "domain", domain, "status", d.Status, "reason", d.Reason)
		r.respond(dirOutbound, tx, req, d.Status, reason, warning(snap, d.Reason))
		return
	}
	rrHost := snap.RecordRouteHost(domain)
	rr := []sip.Header{r.externalRR(rrHost), r.internalRR(strings.ToLower(req.Transport()))}
	f := r.prepare(req, lh, rr, snap.RoutingFQDN(), snap.NodeFQDN())
	r.forward(r.ex, dirOutbound, f, tx, d.NextHops, rrHost, logCtx{dir: dirOutbound, domain: domain})
}

// outboundInDialog follows the dialog's route set toward the partner.
func (r *Relay) outboundInDialog(snap *routing.Snapshot, req *sip.Request, tx *sip.ServerTx, lh uint32) {
	domain := domainOf(&req.To().Address)
	if _, ok := snap.Domain(domain); !ok {
		r.respond(dirOutbound, tx, req, sip.StatusForbidden, "Forbidden", warning(snap, domain+" is not a federated domain"))
		return
	}
	f := r.prepare(req, lh, nil, snap.RoutingFQDN(), snap.NodeFQDN())
	target := f.target
	if target == nil {
		target = &req.Recipient
	}
	hops, err := r.uriHops(r.ctx, target)
	if err != nil {
		r.log.Info("in-dialog target does not resolve", "domain", domain, "next_hop", target.Host, "error", err)
		r.respond(dirOutbound, tx, req, sip.StatusServiceUnavailable, "Service Unavailable", warning(snap, "cannot resolve "+target.Host))
		return
	}
	rrHost := snap.RecordRouteHost(domain)
	r.forward(r.ex, dirOutbound, f, tx, hops, rrHost, logCtx{dir: dirOutbound, domain: domain})
}

// forwardAck sends an ACK of a 2xx on statelessly, along the same checks as other requests; an
// ACK gets no response, so a refused one is dropped.
func (r *Relay) forwardAck(dir string, req *sip.Request) {
	if req.From() == nil || req.To() == nil || req.CSeq() == nil || req.CallID() == nil {
		return
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		return
	}
	lh := loopHash(req)
	snap := r.snaps.Load()
	if snap == nil || !snap.ServiceEnabled() || r.isLoop(req, lh) {
		return
	}
	var (
		to      *side
		hops    []routing.NextHop
		viaHost string
		err     error
	)
	f := r.prepare(req, lh, nil, snap.RoutingFQDN(), snap.NodeFQDN())
	if dir == dirInbound {
		if _, ok := snap.Domain(domainOf(&req.From().Address)); !ok || !snap.IsLocal(domainOf(&req.To().Address)) {
			return
		}
		to = r.in
		hops, err = r.internalHops(r.ctx)
	} else {
		domain := domainOf(&req.To().Address)
		if _, ok := snap.Domain(domain); !ok {
			return
		}
		to, viaHost = r.ex, snap.RecordRouteHost(domain)
		target := f.target
		if target == nil {
			target = &req.Recipient
		}
		hops, err = r.uriHops(r.ctx, target)
	}
	if err != nil || len(hops) == 0 {
		return
	}
	out := r.branchFor(f, hops[0], viaHost)
	if err := to.tpl.WriteMsg(out); err != nil {
		r.log.Debug("ACK not forwarded", "next_hop", hops[0].Addr.String(), "error", err)
	}
}

// isSelf reports whether a Request-URI addresses the proxy itself rather than a user.
func (r *Relay) isSelf(snap *routing.Snapshot, u *sip.Uri) bool {
	if u.User != "" {
		return false
	}
	if r.ownRoute(u, snap.RoutingFQDN(), snap.NodeFQDN()) {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return false
	}
	for _, l := range r.bound {
		ap := l.AddrPort()
		if (u.Port == 0 || int(ap.Port()) == u.Port) && (ap.Addr() == a || (ap.Addr().IsUnspecified() && a.IsLoopback())) {
			return true
		}
	}
	return false
}

func (r *Relay) respond(dir string, tx *sip.ServerTx, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		if h != nil {
			res.AppendHeader(h)
		}
	}
	if err := r.final(tx, req, res); err != nil {
		r.log.Debug("response not sent", "status", code, "error", err)
	}
	r.m.response(dir, code)
}

// warning is a Warning header (RFC 3261 20.43) explaining a refusal.
func warning(snap *routing.Snapshot, text string) sip.Header {
	if text == "" {
		return nil
	}
	agent := "sipfed"
	if snap != nil && snap.RoutingFQDN() != "" {
		agent = snap.RoutingFQDN()
	}
	text = strings.NewReplacer(`"`, `'`, "\r", " ", "\n", " ").Replace(text)
	return sip.NewHeader("Warning", `399 `+agent+` "`+text+`"`)
}

// internalRR is our Record-Route entry as the internal side sees it: an internal listener of the
// transport in use, else the first one.
func (r *Relay) internalRR(transport string) sip.Header {
	var pick *Listener
	for i := range r.bound {
		l := &r.bound[i]
		if !r.isInternal(*l) {
			continue
		}
		if l.Transport == transport {
			pick = l
			break
		}
		if pick == nil {
			pick = l
		}
	}
	if pick == nil {
		return r.recordRoute(r.cfg.NodeFQDN, 0, transport)
	}
	ap := pick.AddrPort()
	host := ap.Addr().String()
	if ap.Addr().IsUnspecified() && r.cfg.NodeFQDN != "" {
		host = r.cfg.NodeFQDN
	}
	return r.recordRoute(host, int(ap.Port()), pick.Transport)
}

// externalRR is our Record-Route entry as partners see it: the federation routing FQDN (or the
// node FQDN for direct_federation domains) on the external TLS port.
func (r *Relay) externalRR(host string) sip.Header {
	return r.recordRoute(host, r.extPort, api.ProtocolTLS)
}

func (r *Relay) isInternal(l Listener) bool {
	for _, b := range r.listeners {
		if b.Listener == l {
			return b.side == r.in
		}
	}
	return false
}

// internalHops resolves --internal-next-hop.
func (r *Relay) internalHops(ctx context.Context) ([]routing.NextHop, error) {
	h := r.cfg.InternalNextHop
	return r.resolveHops(ctx, h.Host, h.Port, h.Transport)
}
