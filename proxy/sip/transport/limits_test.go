package transport

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

func TestLimitsDefaults(t *testing.T) {
	var zero Limits
	zero.SetDefaults()
	want := Limits{
		MaxMessageSize: DefaultMaxMessageSize, MessageTimeout: DefaultMessageTimeout,
		IdleTimeout:      [2]time.Duration{Internal: DefaultIdleInternal, External: DefaultIdleExternal},
		HandshakeTimeout: DefaultHandshakeTimeout,
		// 0 per address means no bound: it is not defaulted.
		MaxConnsPerAddress: [2]int{},
		MaxConns:           [2]int{DefaultMaxConns, DefaultMaxConns},
		PartialBudget:      DefaultPartialBudget, WriteQueue: DefaultWriteQueue, DialTimeout: DefaultDialTimeout,
		// One connection per core to a next hop, up to four.
		ConnsPerHop: min(runtime.GOMAXPROCS(0), 4),
	}
	if zero != want {
		t.Errorf("defaults\n%+v\nwant\n%+v", zero, want)
	}
	set := Limits{MaxMessageSize: 1, MessageTimeout: 2, IdleTimeout: [2]time.Duration{3, 4}, HandshakeTimeout: 5,
		MaxConnsPerAddress: [2]int{6, 7}, MaxConns: [2]int{8, 9}, PartialBudget: 10, WriteQueue: 11, DialTimeout: 12, ConnsPerHop: 13}
	got := set
	got.SetDefaults()
	if got != set {
		t.Errorf("SetDefaults changed limits that were set:\n%+v\nwant\n%+v", got, set)
	}
}

func TestParseProtocol(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Protocol
		ok   bool
	}{
		{"udp", UDP, true}, {"TCP", TCP, true}, {"Tls", TLS, true}, {"sctp", 0, false}, {"", 0, false}, {"tls ", 0, false},
	} {
		got, ok := ParseProtocol(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseProtocol(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok {
			if back, _ := ParseProtocol(got.String()); back != got {
				t.Errorf("%v does not round-trip through its name", got)
			}
			if back, _ := ParseProtocol(got.Via()); back != got {
				t.Errorf("%v does not round-trip through its Via token", got)
			}
		}
	}
}

// Connections are bounded per side, and accepted ones per source address; a closed connection
// frees its place.
func TestConnectionLimits(t *testing.T) {
	a1 := netip.MustParseAddrPort("192.0.2.1:1000")
	a2 := netip.MustParseAddrPort("192.0.2.1:1001")
	b1 := netip.MustParseAddrPort("192.0.2.2:1000")
	mapped := netip.MustParseAddrPort("[::ffff:192.0.2.1]:1002") // the same source as a1
	type conn struct {
		side     Side
		remote   netip.AddrPort
		accepted bool // counted per address
		ok       bool
		reason   string
	}
	tests := []struct {
		name  string
		lim   Limits
		conns []conn
	}{
		{"per address", Limits{MaxConnsPerAddress: [2]int{External: 2}}, []conn{
			{External, a1, true, true, ""},
			{External, a2, true, true, ""},
			{External, mapped, true, false, telemetry.ReasonPerAddressLimit},
			{External, b1, true, true, ""},
			// The bound is per side.
			{Internal, a1, true, true, ""},
			// Dialled connections are not the peer's doing: no per-address bound.
			{External, a1, false, true, ""},
		}},
		// The internal side is often one server on many connections: they must not use up the
		// external side's places for that address, nor the other way round.
		{"per address, each side its own count", Limits{MaxConnsPerAddress: [2]int{Internal: 0, External: 1}}, []conn{
			{Internal, a1, true, true, ""},
			{Internal, a2, true, true, ""},
			{External, a1, true, true, ""},
			{External, a2, true, false, telemetry.ReasonPerAddressLimit},
		}},
		{"per address, both sides bounded", Limits{MaxConnsPerAddress: [2]int{Internal: 1, External: 1}}, []conn{
			{External, a1, true, true, ""},
			{Internal, a2, true, true, ""},
			{Internal, a1, true, false, telemetry.ReasonPerAddressLimit},
		}},
		{"per side", Limits{MaxConns: [2]int{Internal: 1, External: 2}}, []conn{
			{External, a1, true, true, ""},
			{External, b1, false, true, ""},
			{External, a2, true, false, telemetry.ReasonConnectionLimit},
			{External, a2, false, false, telemetry.ReasonConnectionLimit},
			{Internal, a1, true, true, ""},
			{Internal, b1, true, false, telemetry.ReasonConnectionLimit},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTransport(t, newRecorder(), tc.lim)
			var tracked []*Conn
			for i, cc := range tc.conns {
				c := newConn(tp, cc.side, TCP, cc.remote)
				ok, reason := tp.track(c, cc.accepted)
				if ok != cc.ok || reason != cc.reason {
					t.Fatalf("connection %d: track = %v %q, want %v %q", i, ok, reason, cc.ok, cc.reason)
				}
				if ok {
					tracked = append(tracked, c)
				}
			}
			// Closing every connection frees every place: the same sequence fits again.
			for _, c := range tracked {
				c.Close()
			}
			if n := tp.Conns(Internal) + tp.Conns(External); n != 0 {
				t.Fatalf("%d connections tracked after closing all", n)
			}
			for i, cc := range tc.conns {
				ok, _ := tp.track(newConn(tp, cc.side, TCP, cc.remote), cc.accepted)
				if ok != cc.ok {
					t.Fatalf("after closing, connection %d: track = %v, want %v", i, ok, cc.ok)
				}
			}
		})
	}
}

// A transport that is closing takes no more connections.
func TestTrackWhileClosing(t *testing.T) {
	tp := newTransport(t, newRecorder(), Limits{})
	tp.Close()
	if ok, _ := tp.track(newConn(tp, External, TCP, peerAddr), true); ok {
		t.Fatal("a closed transport tracked a new connection")
	}
}
