// Package core is sipfed's SIP core: a transaction-stateful RFC 3261 proxy that carries a
// request where federation policy says it may go, the way policy says it must look, and brings
// every response back. It owns transactions, retransmissions, failover between next hops,
// CANCEL and ACK handling, next-hop health, overload admission and draining. It decides nothing
// about federation: that is the Policy's, as CoreDNS's forward plugin sits on its proxy package.
//
// The hot path is the transport's reading goroutine: a message is parsed, matched, decided and
// forwarded inline, with no goroutine per message. Only a decision that must wait for DNS moves
// to a goroutine of its own.
package core

import (
	"crypto/x509"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// Policy answers "where may this go, and how must it look"; the core carries it out.
type Policy interface {
	// Decide is asked for each request that opens a transaction, each ACK of a 2xx (forwarded
	// statelessly) and each request the core refuses on its own (to fill in nothing). It runs
	// inline on the reading goroutine unless r.MayBlock: then it may wait for DNS. Without
	// MayBlock, a decision that would wait answers Defer and is asked again on a goroutine.
	Decide(r *Request, v *Verdict)
	// EditResponse is asked for each response forwarded upstream: how it must look for the
	// side it goes to. flow is what Decide put in the verdict.
	EditResponse(flow *Flow, res *message.Msg, e *message.Edit)
	// Permit is asked before a request goes over an established TLS connection: whether that
	// peer may receive it (its identity may have lost its trust since the handshake). An error
	// stops the send; closeConn also closes the connection, whose peer nobody may use.
	Permit(t *Target, cert *x509.Certificate) (err error, closeConn bool)
}

// Request is what Decide sees.
type Request struct {
	Msg *message.Msg
	Src *transport.Source
	// InDialog: the To header has a tag.
	InDialog bool
	// MayBlock: Decide may wait for DNS.
	MayBlock bool
}

// Action is what a verdict tells the core to do.
type Action uint8

// Actions.
const (
	// Reject answers the request with Status (and Extra headers); an ACK is dropped.
	Reject Action = iota
	// Forward sends the request to Targets in order, each a new branch, until one answers
	// other than 503.
	Forward
	// Answer answers the request as its final destination (OPTIONS to the proxy itself).
	Answer
	// Defer asks again with MayBlock on a goroutine.
	Defer
)

// Verdict is a decision.
type Verdict struct {
	Action Action
	Status int
	Reason string
	// Extra header lines of a Reject or an Answer (Warning, Retry-After, Allow...), with CRLF.
	Extra []byte

	// Targets are appended to: the core reuses a verdict, and the array, once the decision is
	// done with, so the policy must not keep the verdict or put a slice of its own here.
	Targets []Target
	// Edit is how the request looks toward every target; the core adds its Via and sets
	// Max-Forwards.
	Edit message.Edit
	// Hide: the request's own Vias stay behind (Edit.DropVias); responses get them back.
	Hide bool
	// ViaHost and ViaPort are the sent-by of the core's Via toward the targets; empty: the
	// address of the socket or connection used.
	ViaHost string
	ViaPort int
	// Flow comes back to EditResponse for every response of the transaction.
	Flow Flow
}

// Flow is what a transaction remembers of its decision for its responses.
type Flow struct {
	// Direction is telemetry's inbound or outbound.
	Direction string
	// Domain is the federated domain the request is about (for logs).
	Domain string
	// ToExternal: the request goes to the external side, so responses go to the internal one.
	ToExternal bool
	// Hide: topology hiding applies to this transaction.
	Hide bool
	// CallIDRewritten: the request went with another Call-ID; responses get the original.
	CallIDRewritten bool
}

// Target is one next hop.
type Target struct {
	Side  transport.Side
	Proto transport.Protocol
	Addr  netip.AddrPort
	// Name is what the hop was found under: a route's next_hop or an SRV target (TLS SNI
	// when it is a name).
	Name string
	// Step and RouteID say which routing step found it, for logs.
	Step    string
	RouteID string
	// Domain is the federated domain whose peer_subjects bind this hop (Permit's business).
	Domain string
}

// Config is what the core needs.
type Config struct {
	Transport *transport.Transport
	Policy    Policy

	// HopTimeout bounds the wait for a next hop's final response (INVITE: its first
	// provisional) before failing over.
	HopTimeout time.Duration
	// InviteTimeout bounds an INVITE branch after a provisional response (Timer C).
	InviteTimeout time.Duration
	// MaxInFlight is the number of transactions past which new requests get 503.
	MaxInFlight int
	// Overload configures admission (see overload.go).
	Overload OverloadConfig
	// HealthBackoff is how long a next hop that failed is skipped before it is probed.
	HealthBackoff time.Duration
	// ViaHost is the sent-by host of the core's Via where no other is given and the socket is
	// bound to a wildcard address.
	ViaHost string

	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Defaults.
const (
	DefaultHopTimeout    = 5 * time.Second
	DefaultInviteTimeout = 180 * time.Second
	DefaultMaxInFlight   = 16384
	DefaultHealthBackoff = 30 * time.Second
)

// RFC 3261 timer values.
const (
	T1 = 500 * time.Millisecond
	T2 = 4 * time.Second
	// linger is 64*T1: how long a completed transaction stays to absorb retransmissions.
	linger = 64 * T1
)

func (c *Config) setDefaults() {
	if c.HopTimeout <= 0 {
		c.HopTimeout = DefaultHopTimeout
	}
	if c.InviteTimeout <= 0 {
		c.InviteTimeout = DefaultInviteTimeout
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.HealthBackoff <= 0 {
		c.HealthBackoff = DefaultHealthBackoff
	}
	c.Overload.setDefaults()
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
