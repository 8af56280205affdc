// Package federation is sipfed's federation policy: who may send what to whom, and where it may
// go. It answers the SIP core's questions (package core) from the live routing snapshot:
//
//   - inbound, from a partner over mutual TLS: the connection's identity must be a TLS peer
//     subject (and one of the From domain's peer_subjects when it names some); the From domain
//     must be federated and never local; the request must be for a local domain; it goes to the
//     internal next hop and nowhere else;
//   - outbound, from the enterprise's own servers: out of a dialog the routing chain (static
//     routes, DNS SRV, the AOL chain) picks the next hops for a federated domain; in a dialog the
//     route set does, but only over mutual TLS to a peer the To domain trusts, or in plaintext
//     where an administrator's static route for that domain names that very hop;
//   - topology hiding (package topology): what reaches a partner names the federation routing
//     FQDN (the node FQDN for direct federation) and nothing internal.
//
// The core carries the verdicts out; this package does no I/O but DNS through the routing
// snapshot's resolver, which it never waits on inline.
package federation

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/discovery"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/topology"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Snapshots gives the live routing snapshot.
type Snapshots interface {
	Load() *routing.Snapshot
}

// Listener is one of the proxy's own SIP listeners.
type Listener struct {
	Side  transport.Side
	Proto transport.Protocol
	Addr  netip.AddrPort
}

// NextHop is the internal next hop: where requests from partners go.
type NextHop struct {
	Host  string // IP literal or a name resolved through DNS
	Port  int
	Proto transport.Protocol
}

// Config is what the policy needs of the node.
type Config struct {
	Snapshots Snapshots
	DNS       routing.DNS
	Codec     *topology.Codec
	// HideTopology hides internal addresses and names from partners (default on).
	HideTopology bool
	// Listeners are the bound SIP listeners, actual ports filled in.
	Listeners []Listener
	// ExternalPort is the TLS port partners reach the proxy on (Record-Route, Via).
	ExternalPort int
	// InternalNextHop is where requests from partners go.
	InternalNextHop NextHop
	NodeFQDN        string
	// OwnAddrs are addresses a request must never be sent to: the proxy's own listeners and its
	// admin API.
	OwnAddrs []netip.AddrPort
	Log      *slog.Logger
}

// Policy implements core.Policy.
type Policy struct {
	cfg       Config
	snaps     Snapshots
	dns       routing.DNS
	codec     *topology.Codec
	log       *slog.Logger
	decisions sync.Pool
	// tokens are internal names and addresses no header to a partner may carry.
	tokens [][]byte
	// rrInternal are our internal Record-Route lines by the protocol a request came in on.
	rrInternal [3][]byte
	intHost    [3]string // Via host and port toward the internal side, by protocol
	intPort    [3]int
	rewriters  [16]*rewriter
	extRRs     sync.Map // extRRKey -> []byte
	nbs        sync.Pool
}

var _ core.Policy = (*Policy)(nil)

// New builds the policy.
func New(cfg Config) (*Policy, error) {
	if cfg.Snapshots == nil || cfg.DNS == nil || cfg.Codec == nil {
		return nil, errors.New("federation: snapshots, DNS and codec are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p := &Policy{cfg: cfg, snaps: cfg.Snapshots, dns: cfg.DNS, codec: cfg.Codec, log: cfg.Log}
	p.decisions.New = func() any { return new(routing.Decision) }
	p.nbs.New = func() any { return new(nonBlocking) }
	for mode := range p.rewriters {
		p.rewriters[mode] = &rewriter{p: p, mode: mode}
	}
	for proto := transport.UDP; proto <= transport.TLS; proto++ {
		host, port := p.internalListener(proto)
		p.intHost[proto], p.intPort[proto] = host, port
		p.rrInternal[proto] = p.appendRR(nil, host, port, proto, nil)
	}
	p.addToken(cfg.InternalNextHop.Host)
	for _, l := range cfg.Listeners {
		if l.Side == transport.Internal && !l.Addr.Addr().IsUnspecified() {
			p.addToken(l.Addr.Addr().String())
		}
	}
	return p, nil
}

func (p *Policy) addToken(s string) {
	if s == "" {
		return
	}
	p.tokens = append(p.tokens, []byte(strings.ToLower(s)))
}

// internalListener is the listener the internal side reaches us on for proto: one of that
// protocol, else the first internal one. A wildcard address is named by the node FQDN.
func (p *Policy) internalListener(proto transport.Protocol) (string, int) {
	var pick *Listener
	for i := range p.cfg.Listeners {
		l := &p.cfg.Listeners[i]
		if l.Side != transport.Internal {
			continue
		}
		if l.Proto == proto {
			pick = l
			break
		}
		if pick == nil {
			pick = l
		}
	}
	if pick == nil {
		return p.cfg.NodeFQDN, 0
	}
	if pick.Addr.Addr().IsUnspecified() && p.cfg.NodeFQDN != "" {
		return p.cfg.NodeFQDN, int(pick.Addr.Port())
	}
	return pick.Addr.Addr().String(), int(pick.Addr.Port())
}

// Decide implements core.Policy.
func (p *Policy) Decide(r *core.Request, v *core.Verdict) {
	snap := p.snaps.Load()
	if snap == nil {
		reject(v, 503, "the proxy is starting", nil)
		return
	}
	m := r.Msg
	if m.MethodIs(message.OPTIONS) && !r.InDialog && p.isSelf(snap, m) {
		v.Action, v.Status, v.Reason = core.Answer, 200, "OK"
		v.Extra = []byte("Allow: " + allowed + "\r\n")
		return
	}
	if !snap.ServiceEnabled() {
		reject(v, 503, "the federation service is off", snap)
		return
	}
	if r.Src.Side == transport.External {
		p.inbound(snap, r, v)
		return
	}
	p.outbound(snap, r, v)
}

const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE, PRACK, PUBLISH"

// reject fills a refusal with a Warning naming why (RFC 3261 20.43).
func reject(v *core.Verdict, status int, why string, snap *routing.Snapshot) {
	rejectRetry(v, status, why, snap, 5*time.Second)
}

// rejectRetry is reject with the Retry-After of a 503: when to try again, rounded up to whole
// seconds (RFC 3261 20.33).
func rejectRetry(v *core.Verdict, status int, why string, snap *routing.Snapshot, retry time.Duration) {
	v.Action, v.Status = core.Reject, status
	agent := "sipfed"
	if snap != nil && snap.RoutingFQDN() != "" {
		agent = snap.RoutingFQDN()
	}
	why = strings.NewReplacer(`"`, `'`, "\r", " ", "\n", " ").Replace(why)
	v.Extra = append(v.Extra, "Warning: 399 "+agent+" \""+why+"\"\r\n"...)
	if status == 503 {
		secs := max(int64((retry+time.Second-1)/time.Second), 1)
		v.Extra = append(v.Extra, "Retry-After: "+strconv.FormatInt(secs, 10)+"\r\n"...)
	}
}

// isSelf reports whether the Request-URI names the proxy itself rather than a user.
func (p *Policy) isSelf(snap *routing.Snapshot, m *message.Msg) bool {
	u := m.RURI
	if !u.User.IsZero() || u.Host.IsZero() {
		return false
	}
	host := m.Bytes(u.Host)
	if message.EqualFoldASCII(host, snap.RoutingFQDN()) || message.EqualFoldASCII(host, snap.NodeFQDN()) {
		return true
	}
	a, err := netip.ParseAddr(string(host))
	if err != nil {
		return false
	}
	for _, l := range p.cfg.Listeners {
		if (u.Port == 0 || int(l.Addr.Port()) == u.Port) && (l.Addr.Addr() == a.Unmap() || (l.Addr.Addr().IsUnspecified() && a.IsLoopback())) {
			return true
		}
	}
	return false
}

// Permit implements core.Policy: a request goes to a partner only over a connection whose peer
// is still a TLS peer subject and, when the domain names peer_subjects, one of them.
func (p *Policy) Permit(t *core.Target, cert *x509.Certificate) (error, bool) {
	if t.Side != transport.External {
		return nil, false
	}
	snap := p.snaps.Load()
	if snap == nil {
		return errNoSnapshot, false
	}
	if _, ok := identity.Match(cert, snap.IsPeerSubject); !ok {
		p.log.Warn("connection closed: its peer is no longer a TLS peer subject",
			telemetry.KeyPeerIdentities, strings.Join(identity.Of(cert), ","), telemetry.KeyNextHop, t.Addr.String())
		return errNotPeerSubject, true
	}
	if t.Domain != "" {
		if ps, _ := snap.DomainPeerSubjects(t.Domain); len(ps) > 0 {
			if _, ok := identity.Match(cert, func(id string) bool { return contains(ps, id) }); !ok {
				return errNotDomainPeer, false
			}
		}
	}
	return nil, false
}

var (
	errNoSnapshot     = errors.New("no routing snapshot")
	errNotPeerSubject = errors.New("the peer's identity is no longer a TLS peer subject")
	errNotDomainPeer  = errors.New("the peer's identity is not one of the domain's peer_subjects")
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nonBlocking is the resolver as the inline path uses it: answers from the cache only, noting
// when one was missing so that the decision is taken again where it may wait.
type nonBlocking struct {
	dns    routing.DNS
	missed bool
}

func (n *nonBlocking) LookupSRV(ctx context.Context, domain string) (routing.SRVAnswer, error) {
	a, err := n.dns.LookupSRV(ctx, domain)
	if errors.Is(err, discovery.ErrWouldBlock) {
		n.missed = true
	}
	return a, err
}

func (n *nonBlocking) LookupAddrs(ctx context.Context, host string) (routing.AddrAnswer, error) {
	a, err := n.dns.LookupAddrs(ctx, host)
	if errors.Is(err, discovery.ErrWouldBlock) {
		n.missed = true
	}
	return a, err
}

// nonBlockingCtx makes lookups answer from the cache only.
var nonBlockingCtx = discovery.NonBlocking(context.Background())

// resolver returns the DNS to decide with, and the context for it; release gives the wrapper
// back (nil-safe).
func (p *Policy) resolver(r *core.Request) (routing.DNS, context.Context, *nonBlocking) {
	if r.MayBlock {
		return p.dns, context.Background(), nil
	}
	nb := p.nbs.Get().(*nonBlocking)
	nb.dns, nb.missed = p.dns, false
	return nb, nonBlockingCtx, nb
}

func (p *Policy) release(nb *nonBlocking) {
	if nb != nil {
		p.nbs.Put(nb)
	}
}

func protoOf(s string) transport.Protocol {
	pr, _ := transport.ParseProtocol(s)
	return pr
}

func domainOf(m *message.Msg, s message.Span) string {
	return strings.ToLower(m.Str(s))
}

var _ = api.ProtocolTLS
