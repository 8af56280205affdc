package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// sipFlags are the SIP knobs of `serve`: every relay limit and timer, with its default.
type sipFlags struct {
	topologyHiding   bool
	hopTimeout       time.Duration
	inviteTimeout    time.Duration
	maxInFlight      int
	overloadControl  bool
	queueDelay       time.Duration
	udpQueueDelay    time.Duration
	schedulingDelay  time.Duration
	overloadInterval time.Duration
	nextHopBackoff   time.Duration

	maxMessageSize   int
	messageTimeout   time.Duration
	idleInternal     time.Duration
	idleExternal     time.Duration
	handshakeTimeout time.Duration
	perAddrInternal  int
	perAddrExternal  int
	maxConns         int
	partialBytes     int64
	writeQueue       int
	dialTimeout      time.Duration
	hopConns         int
}

func (s *sipFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&s.topologyHiding, "topology-hiding", true, "hide internal Vias, Record-Route entries, Contacts, Call-IDs and addresses from partners")
	fs.DurationVar(&s.hopTimeout, "hop-timeout", core.DefaultHopTimeout, "wait this long for a next hop's final response (INVITE: its first provisional) before failing over")
	fs.DurationVar(&s.inviteTimeout, "invite-timeout", core.DefaultInviteTimeout, "cancel an INVITE branch that has rung this long (RFC 3261 Timer C)")
	fs.IntVar(&s.maxInFlight, "max-in-flight", core.DefaultMaxInFlight, "answer new requests 503 while this many transactions await a final response (a TCP or TLS connection with fewer than 8 in flight still gets in, up to an eighth over)")
	fs.BoolVar(&s.overloadControl, "overload-control", true, "refuse new requests with 503 at admission while requests keep waiting longer than the targets below")
	fs.DurationVar(&s.queueDelay, "overload-queue-delay", core.DefaultQueueDelay, "target wait of a request on TCP or TLS before its handling, estimated per connection from the socket's queue")
	fs.DurationVar(&s.udpQueueDelay, "overload-udp-queue-delay", core.DefaultUDPQueueDelay, "target wait of a request on UDP before its handling, from the kernel's receive time, per socket (lower refuses sooner, with 503, what the kernel would otherwise drop silently once the socket's buffer is full, at some cost in requests served)")
	fs.DurationVar(&s.schedulingDelay, "overload-scheduling-delay", core.DefaultSchedulingDelay, "target lateness of the scheduler (TCP and TLS)")
	fs.DurationVar(&s.overloadInterval, "overload-interval", core.DefaultInterval, "window over which the least wait must stay above its target to count as overload; a TCP or TLS connection whose receive queue does not drain for three windows gets a growing share of its new requests refused")
	fs.DurationVar(&s.nextHopBackoff, "next-hop-backoff", core.DefaultHealthBackoff, "skip a next hop that failed for this long, then probe it with OPTIONS before using it again")

	fs.IntVar(&s.maxMessageSize, "max-message-size", transport.DefaultMaxMessageSize, "largest SIP message accepted, in bytes (513 above it)")
	fs.DurationVar(&s.messageTimeout, "message-timeout", transport.DefaultMessageTimeout, "time to receive a whole message on TCP or TLS once its first byte arrived")
	fs.DurationVar(&s.idleInternal, "idle-timeout-internal", transport.DefaultIdleInternal, "close an internal TCP or TLS connection idle this long")
	fs.DurationVar(&s.idleExternal, "idle-timeout-external", transport.DefaultIdleExternal, "close an external TLS connection idle this long")
	fs.DurationVar(&s.handshakeTimeout, "handshake-timeout", transport.DefaultHandshakeTimeout, "time allowed for a TLS handshake")
	fs.IntVar(&s.perAddrExternal, "max-connections-per-address-external", transport.DefaultMaxConnsPerAddr, "connections accepted from one address on the external side (0: no limit)")
	fs.IntVar(&s.perAddrInternal, "max-connections-per-address-internal", 0, "connections accepted from one address on the internal side (0: no limit; the internal side is often one server)")
	fs.IntVar(&s.maxConns, "max-connections", transport.DefaultMaxConns, "connections per side, accepted and dialled")
	fs.Int64Var(&s.partialBytes, "partial-bytes-limit", transport.DefaultPartialBudget, "bytes held for messages not yet received whole, all connections together; a connection that would exceed it is closed")
	fs.IntVar(&s.writeQueue, "write-queue-limit", transport.DefaultWriteQueue, "bytes waiting to be written on one connection; past it, sends on that connection fail")
	fs.DurationVar(&s.dialTimeout, "dial-timeout", transport.DefaultDialTimeout, "time allowed to connect to a next hop, TLS handshake included")
	fs.IntVar(&s.hopConns, "next-hop-connections", 0, "TCP or TLS connections to one next hop, a call keeping to one (0: one per core, up to 4)")
}

// maxHopConns bounds --next-hop-connections: more would only add handshakes and sockets for
// a partner to count against its own per-address limit.
const maxHopConns = 16

// apply sets the relay configuration from the flags, checking each.
func (s *sipFlags) apply(c *relay.Config) error {
	for name, d := range map[string]time.Duration{
		"--hop-timeout": s.hopTimeout, "--invite-timeout": s.inviteTimeout, "--overload-queue-delay": s.queueDelay, "--overload-udp-queue-delay": s.udpQueueDelay,
		"--overload-scheduling-delay": s.schedulingDelay, "--overload-interval": s.overloadInterval,
		"--next-hop-backoff": s.nextHopBackoff, "--message-timeout": s.messageTimeout,
		"--idle-timeout-internal": s.idleInternal, "--idle-timeout-external": s.idleExternal,
		"--handshake-timeout": s.handshakeTimeout, "--dial-timeout": s.dialTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %v", name, d)
		}
	}
	if s.maxMessageSize < 1024 || s.maxMessageSize > 1<<20 {
		return fmt.Errorf("--max-message-size must be between 1024 and 1048576 bytes, got %d", s.maxMessageSize)
	}
	for name, n := range map[string]int{"--max-in-flight": s.maxInFlight, "--max-connections": s.maxConns, "--write-queue-limit": s.writeQueue} {
		if n <= 0 {
			return fmt.Errorf("%s must be positive, got %d", name, n)
		}
	}
	if s.perAddrExternal < 0 || s.perAddrInternal < 0 {
		return fmt.Errorf("--max-connections-per-address-* must not be negative")
	}
	if s.hopConns < 0 || s.hopConns > maxHopConns {
		return fmt.Errorf("--next-hop-connections must be between 0 (one per core) and %d, got %d", maxHopConns, s.hopConns)
	}
	if s.partialBytes < int64(s.maxMessageSize) {
		return fmt.Errorf("--partial-bytes-limit (%d) must hold at least one message of --max-message-size (%d)", s.partialBytes, s.maxMessageSize)
	}
	c.ShowTopology = !s.topologyHiding
	c.HopTimeout, c.InviteTimeout, c.MaxInFlight = s.hopTimeout, s.inviteTimeout, s.maxInFlight
	c.Overload = core.OverloadConfig{Disabled: !s.overloadControl, QueueDelay: s.queueDelay, UDPQueueDelay: s.udpQueueDelay,
		SchedulingDelay: s.schedulingDelay, Interval: s.overloadInterval}
	c.HealthBackoff = s.nextHopBackoff
	c.Limits = transport.Limits{
		MaxMessageSize: s.maxMessageSize, MessageTimeout: s.messageTimeout,
		IdleTimeout:        [2]time.Duration{transport.Internal: s.idleInternal, transport.External: s.idleExternal},
		HandshakeTimeout:   s.handshakeTimeout,
		MaxConnsPerAddress: [2]int{transport.Internal: s.perAddrInternal, transport.External: s.perAddrExternal},
		MaxConns:           [2]int{s.maxConns, s.maxConns},
		PartialBudget:      s.partialBytes, WriteQueue: s.writeQueue, DialTimeout: s.dialTimeout,
		ConnsPerHop: s.hopConns,
	}
	return nil
}
