package core

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/sipgoadapter"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// health remembers next hops that failed (a transport error or a timeout; a 503 marks
// nothing, nor does a timeout while the proxy itself is overloaded). A failed hop is skipped
// for a back-off period, then probed with OPTIONS, and used again only once the probe is
// answered: a dead first-priority edge costs one hop timeout, not one per request. Back-off
// doubles while probes go unanswered.
type health struct {
	c       *Core
	base    time.Duration
	max     time.Duration
	hops    sync.Map // hopKey -> *hopState
	probes  sync.Map // branch -> *probe
	downNow sync.Map // hopKey -> struct{}: for the gauge
	// swept is when hops nobody asks about were last forgotten (unix ns; see forget).
	swept atomic.Int64
}

type hopKey struct {
	side  transport.Side
	proto transport.Protocol
	addr  netip.AddrPort
}

type hopState struct {
	mu        sync.Mutex
	downUntil time.Time
	backoff   time.Duration
	probing   bool
	target    Target
	// via is the sent-by host of the requests that found the hop dead (the routing FQDN
	// toward partners): its probe says the same, so a partner learns no more from a probe.
	via string
}

type probe struct {
	h     *health
	key   hopKey
	st    *hopState
	once  sync.Once
	timer atomic.Pointer[time.Timer] // the timer's own callback reads it too
	conn  *transport.Conn
}

func newHealth(c *Core, base time.Duration) *health {
	return &health{c: c, base: base, max: 16 * base}
}

func keyOf(t *Target) hopKey { return hopKey{side: t.Side, proto: t.Proto, addr: t.Addr} }

// isDown reports whether t is to be skipped; a hop whose back-off ended gets its probe.
func (h *health) isDown(t *Target) bool {
	k := keyOf(t) // the probe's goroutine gets the key: t lives in a verdict that is reused
	v, ok := h.hops.Load(k)
	if !ok {
		return false
	}
	st := v.(*hopState)
	st.mu.Lock()
	defer st.mu.Unlock()
	if time.Now().Before(st.downUntil) || st.probing {
		return true
	}
	st.probing = true
	h.c.goRun(func() { h.sendProbe(k, st) })
	return true
}

// known reports whether t is down, without starting a probe.
func (h *health) known(t *Target) bool {
	v, ok := h.hops.Load(keyOf(t))
	if !ok {
		return false
	}
	st := v.(*hopState)
	st.mu.Lock()
	defer st.mu.Unlock()
	return time.Now().Before(st.downUntil) || st.probing
}

// failed marks t down, unless it is down already; via is the Via host of the request that
// failed there ("": the core's own).
func (h *health) failed(t *Target, via, reason string) {
	h.c.m.hopFailures.WithLabelValues(reason).Inc()
	if reason == telemetry.ReasonTimeout && h.c.over.active() {
		// The proxy is behind: the answer may be waiting in its own queue. Marking the hop
		// down would send the next requests elsewhere for the proxy's fault, or, with one
		// hop, only mislead the operator.
		return
	}
	h.forget(time.Now()) // before any hop's lock is held: it takes each in turn
	k := keyOf(t)
	v, _ := h.hops.LoadOrStore(k, &hopState{target: *t, via: via})
	st := v.(*hopState)
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	if now.Before(st.downUntil) || st.probing {
		return
	}
	if st.backoff == 0 {
		st.backoff = h.base
	}
	st.downUntil = now.Add(st.backoff)
	if _, was := h.downNow.LoadOrStore(k, struct{}{}); !was {
		h.c.m.hopsDown.Inc()
		h.c.log.Warn("next hop down: skipped until a probe answers", telemetry.KeyNextHop, t.Addr.String(),
			telemetry.KeyProtocol, t.Proto.String(), telemetry.KeyReason, reason, telemetry.KeyDuration, st.backoff)
	}
}

// forget drops the hops nobody has asked about for the longest back-off since theirs ended: a
// request for one starts its probe, so an entry left idle that long is a hop no route names
// any more (an in-dialog target a partner's Contact named, say). Without this, every hop that
// ever failed and never answered again would be kept for good. It runs at most once per
// longest back-off, from failed.
func (h *health) forget(now time.Time) {
	last := h.swept.Load()
	if now.UnixNano()-last < int64(h.max) || !h.swept.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	h.hops.Range(func(k, v any) bool {
		st := v.(*hopState)
		st.mu.Lock()
		idle := !st.probing && now.Sub(st.downUntil) > h.max
		st.mu.Unlock()
		if idle && h.hops.CompareAndDelete(k, v) {
			if _, was := h.downNow.LoadAndDelete(k); was {
				h.c.m.hopsDown.Dec()
			}
		}
		return true
	})
}

// succeeded clears t: it answered.
func (h *health) succeeded(t *Target) {
	k := keyOf(t)
	if _, ok := h.hops.Load(k); !ok {
		return
	}
	h.hops.Delete(k)
	if _, was := h.downNow.LoadAndDelete(k); was {
		h.c.m.hopsDown.Dec()
		h.c.log.Info("next hop up again", telemetry.KeyNextHop, t.Addr.String(), telemetry.KeyProtocol, t.Proto.String())
	}
}

// sendProbe sends an OPTIONS to a hop whose back-off ended.
func (h *health) sendProbe(k hopKey, st *hopState) {
	c := h.c
	t := st.target
	branch := string(c.appendBranch(nil, 0))
	p := &probe{h: h, key: k, st: st}
	h.probes.Store(branch, p)
	p.timer.Store(time.AfterFunc(c.cfg.HopTimeout, func() { p.finish(false) }))
	viaHost := c.cfg.ViaHost
	if st.via != "" {
		viaHost = st.via
	}
	var out []byte
	switch t.Proto {
	case transport.UDP:
		sock, err := c.tp.SocketFor(t.Side, t.Addr)
		if err != nil {
			p.finish(false)
			return
		}
		host := st.via
		if host == "" {
			host = c.udpViaHost(sock, t.Addr)
		}
		out = sipgoadapter.Options(t.Addr, t.Proto.String(), host, int(sock.Local().Port()), branch, string(c.localTag))
		if sock.WriteTo(out, t.Addr) != nil {
			p.finish(false)
		}
	default:
		conn, err := c.tp.Dial(t.Side, t.Proto, t.Addr, t.Name, 0)
		if err != nil {
			p.finish(false)
			return
		}
		p.conn = conn
		out = sipgoadapter.Options(t.Addr, t.Proto.String(), viaHost, 0, branch, string(c.localTag))
		if conn.Send(out, nil) != nil {
			p.finish(false)
		}
	}
}

// probeFor finds the probe a response answers.
func (h *health) probeFor(branch []byte) (*probe, bool) {
	v, ok := h.probes.Load(string(branch))
	if !ok {
		return nil, false
	}
	return v.(*probe), true
}

func (p *probe) answered() { p.finish(true) }

func (p *probe) finish(up bool) {
	p.once.Do(func() {
		if t := p.timer.Load(); t != nil {
			t.Stop()
		}
		p.h.probes.Range(func(k, v any) bool {
			if v == p {
				p.h.probes.Delete(k)
			}
			return true
		})
		if up {
			p.h.succeeded(&p.st.target)
			return
		}
		p.st.mu.Lock()
		p.st.probing = false
		p.st.backoff = min(2*p.st.backoff, p.h.max)
		p.st.downUntil = time.Now().Add(p.st.backoff)
		p.st.mu.Unlock()
	})
}
