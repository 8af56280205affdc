package relay

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// switchedHop is a UDP next hop that records the method of every request it gets and answers
// 200 only while it is alive; dead, it swallows everything, as a crashed edge behind a
// firewall does.
type switchedHop struct {
	addr    string
	alive   atomic.Bool
	mu      sync.Mutex
	methods []string
	txs     map[string]bool // MESSAGE branches: retransmissions are one transaction
}

func startSwitchedHop(t *testing.T) *switchedHop {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	h := &switchedHop{addr: pc.LocalAddr().String(), txs: map[string]bool{}}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			method, _, _ := strings.Cut(msg, " ")
			if strings.HasPrefix(msg, "SIP/2.0") || method == "ACK" {
				continue
			}
			h.mu.Lock()
			h.methods = append(h.methods, method)
			if method == "MESSAGE" {
				_, rest, _ := strings.Cut(msg, ";branch=")
				branch, _, _ := strings.Cut(rest, "\r\n")
				h.txs[branch] = true
			}
			h.mu.Unlock()
			if !h.alive.Load() {
				continue
			}
			var res strings.Builder
			res.WriteString("SIP/2.0 200 OK\r\n")
			for _, line := range strings.Split(msg, "\r\n") {
				name, _, _ := strings.Cut(line, ":")
				switch strings.ToLower(name) {
				case "via", "from", "call-id", "cseq":
					res.WriteString(line + "\r\n")
				case "to":
					res.WriteString(line + ";tag=hop\r\n")
				}
			}
			res.WriteString("Content-Length: 0\r\n\r\n")
			_, _ = pc.WriteTo([]byte(res.String()), from)
		}
	}()
	return h
}

// got counts the requests of a method the hop received.
func (h *switchedHop) got(method string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.methods {
		if m == method {
			n++
		}
	}
	return n
}

// A next hop that does not answer costs the first request its hop timeout; the requests after
// it skip the hop until its back-off ends and a probe finds it answering again. A 503 fails
// over the request that got it and marks nothing.
func TestNextHopHealth(t *testing.T) {
	const backoff = 700 * time.Millisecond
	w := newWorld(t, func(_ *world, c *Config) {
		c.HopTimeout = 300 * time.Millisecond
		c.HealthBackoff = backoff
	})
	uac := newUAC(t, nil)

	t.Run("a dead first hop is tried once, then skipped", func(t *testing.T) {
		dead := startSwitchedHop(t)
		good := startUAS(t, "udp", nil)
		f := w.fed
		f.routes = []api.StaticRoute{route(partnerDomain, dead.addr, api.ProtocolUDP, 1), route(partnerDomain, good.addr, api.ProtocolUDP, 2)}
		w.set(f)
		const n = 8
		start := time.Now()
		for range n {
			uac.mustDo(t, w.outbound(t, "tcp"), 200)
		}
		t.Logf("%d requests past a dead first hop (hop timeout %v): %v", n, 300*time.Millisecond, time.Since(start))
		// The first request's transaction (retransmitted) and no other: a probe that goes
		// unanswered, should the back-off end meanwhile on a slow machine, keeps it down.
		dead.mu.Lock()
		txs := len(dead.txs)
		dead.mu.Unlock()
		if txs != 1 {
			t.Fatalf("the dead hop got %d MESSAGE transactions of %d requests; want 1", txs, n)
		}
		if got := good.count(); got != n {
			t.Fatalf("the second hop got %d of %d requests", got, n)
		}
		if v := w.metric(t, telemetry.MetricNextHopDown); v != 1 {
			t.Errorf("%s = %v, want 1", telemetry.MetricNextHopDown, v)
		}

		// The hop comes back. Requests keep going to the second hop until a probe (sent once
		// the back-off is over) is answered; after that the first hop is used again.
		dead.alive.Store(true)
		deadline := time.Now().Add(10 * time.Second)
		for dead.got("OPTIONS") == 0 && time.Now().Before(deadline) {
			uac.mustDo(t, w.outbound(t, "tcp"), 200)
			time.Sleep(50 * time.Millisecond)
		}
		if dead.got("OPTIONS") == 0 {
			t.Fatal("the hop was never probed after its back-off")
		}
		before := dead.got("MESSAGE")
		for dead.got("MESSAGE") == before && time.Now().Before(deadline) {
			uac.mustDo(t, w.outbound(t, "tcp"), 200)
			time.Sleep(20 * time.Millisecond)
		}
		if dead.got("MESSAGE") == before {
			t.Fatal("the hop answered its probe but was not used again")
		}
		if v := w.metric(t, telemetry.MetricNextHopDown); v != 0 {
			t.Errorf("%s = %v after the hop recovered, want 0", telemetry.MetricNextHopDown, v)
		}
	})

	t.Run("a 503 fails over that request only", func(t *testing.T) {
		busy := startUAS(t, "udp", nil)
		busy.code.Store(503)
		good := startUAS(t, "udp", nil)
		f := w.fed
		f.routes = []api.StaticRoute{route(partnerDomain, busy.addr, api.ProtocolUDP, 1), route(partnerDomain, good.addr, api.ProtocolUDP, 2)}
		w.set(f)
		const n = 4
		for range n {
			uac.mustDo(t, w.outbound(t, "tcp"), 200)
		}
		if busy.count() != n || good.count() != n {
			t.Fatalf("busy hop got %d, second hop %d, of %d requests: every request tries the busy hop first", busy.count(), good.count(), n)
		}
	})
}
