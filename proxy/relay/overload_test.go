package relay

import (
	"bufio"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// TCP senders that outpace the proxy build queues in their sockets, where no request carries a
// receive time. The proxy sees each queue (its length, polled), refuses the requests that
// waited past the target with 503 at admission, and answers every request; a quiet connection
// beside them is not refused, and the busy ones are served again once their queues are gone.
func TestStreamBacklogSheds503(t *testing.T) {
	const senders, each = 8, 5000
	w := newWorld(t, func(w *world, c *Config) {
		c.Overload = core.OverloadConfig{QueueDelay: 20 * time.Millisecond, Interval: 50 * time.Millisecond}
		// The queues are under test, not the other bounds: with the default in-flight bound
		// the flood could fill it before any queue formed, and be refused by it alone; 40,000
		// forwards can outgrow the next hop connection's write queue; and the in-process next
		// hop, short of CPU under -race, can take longer than the hop timeout. The last two
		// fail requests over (503 with a Warning), they do not shed them.
		// TestInFlightBoundSparesQuietConnections, TestSendQueue and TestNextHopHealth test
		// those.
		c.MaxInFlight = 1 << 20
		c.Limits.WriteQueue = 64 << 20
		c.HopTimeout = time.Minute
	})
	edge := rawStreamUAS(t, nil)
	f := w.fed
	f.routes = []api.StaticRoute{route(partnerDomain, edge, api.ProtocolTCP, 1)}
	w.set(f)
	quiet := dialCounted(t, w.internalAddr("tcp"))
	var busy []*countedConn
	var bursts [][]byte
	for s := 0; s < senders; s++ {
		c := dialCounted(t, w.internalAddr("tcp"))
		var b strings.Builder
		for i := 0; i < each; i++ {
			b.WriteString(benchMessage("tcp", c.conn.LocalAddr().String(), "alice@"+localDomain, "bob@"+partnerDomain, s*each+i))
		}
		busy, bursts = append(busy, c), append(bursts, []byte(b.String()))
	}
	// Built first and written at once, with no wait for answers: together the senders
	// outpace the proxy, and their sockets' queues stay full until it has read them.
	sent := make(chan error, senders)
	for s, c := range busy {
		go func() {
			_, err := c.conn.Write(bursts[s])
			sent <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)
	quiet.send(t, 1_000_000)
	for range senders {
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}
	var ok, shed int64
	for _, c := range busy {
		c.waitAnswers(t, each)
		ok, shed = ok+c.ok.Load(), shed+c.shed.Load()
	}
	quiet.waitAnswers(t, 1)
	t.Logf("%d senders, %d requests each, all at once: %d answered 200, %d refused 503", senders, each, ok, shed)
	if shed == 0 {
		t.Fatalf("of %d requests queued in sockets, %d answered 200 and none 503", senders*each, ok)
	}
	if quiet.ok.Load() != 1 {
		t.Fatalf("the quiet connection's request was refused (%d 503)", quiet.shed.Load())
	}
	// Some may be refused for other reasons (the scheduler's lateness, the in-flight bound):
	// together they are every 503, and the queue's wait is one of them.
	byReason := map[string]float64{}
	total := 0.0
	for _, r := range []string{telemetry.ReasonQueueDelay, telemetry.ReasonStandingQueue, telemetry.ReasonSchedulingDelay, telemetry.ReasonInFlight} {
		byReason[r] = w.metric(t, telemetry.MetricSIPShed, "reason="+r)
		total += byReason[r]
	}
	t.Logf("503 by reason: %v", byReason)
	if byReason[telemetry.ReasonQueueDelay]+byReason[telemetry.ReasonStandingQueue] == 0 || total != float64(shed) {
		t.Errorf("%s by reason %v; the connections got %d 503s", telemetry.MetricSIPShed, byReason, shed)
	}

	// The queues are gone: a busy connection is served again (a later interval sees short
	// waits).
	c := busy[0]
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		ok0 := c.ok.Load()
		c.send(t, senders*each+i)
		c.waitAnswers(t, each+i+1)
		if c.ok.Load() > ok0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection was still refused 5 s after its queue drained")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Past the in-flight bound, a connection flooding the proxy is refused, but a partner's quiet
// connection beside it still gets its request through: the flood must not take the whole
// bound. A UDP sender, whom nothing tells apart from the flood, is refused; so is a sender that
// opens a fresh connection for each request, once an eighth over the bound.
func TestInFlightBoundSparesQuietConnections(t *testing.T) {
	const bound, flood = 32, 100
	w := newWorld(t, func(w *world, c *Config) {
		c.MaxInFlight = bound
		c.HopTimeout = time.Minute // nothing leaves the bound during the test
		c.Overload = core.OverloadConfig{Disabled: true}
	})
	edge, received := silentStreamEdge(t)
	f := w.fed
	f.routes = []api.StaticRoute{route(partnerDomain, edge, api.ProtocolTCP, 1)}
	w.set(f)

	busy := dialCounted(t, w.internalAddr("tcp"))
	for i := range flood {
		busy.send(t, i)
	}
	busy.waitAnswers(t, flood-bound)
	if busy.shed.Load() != flood-bound {
		t.Fatalf("the flooding connection got %d 503s, want %d", busy.shed.Load(), flood-bound)
	}

	deadline := time.Now().Add(5 * time.Second)
	for received() != bound {
		if time.Now().After(deadline) {
			t.Fatalf("the next hop got %d requests, want the %d in flight", received(), bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	quiet := dialCounted(t, w.internalAddr("tcp"))
	quiet.send(t, 1_000_000)
	deadline = time.Now().Add(5 * time.Second)
	for received() != bound+1 {
		if quiet.shed.Load() > 0 {
			t.Fatal("the quiet connection's request was refused")
		}
		if time.Now().After(deadline) {
			t.Fatal("the quiet connection's request never reached the next hop")
		}
		time.Sleep(5 * time.Millisecond)
	}

	uc, err := net.Dial("udp", w.internalAddr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if _, err := uc.Write([]byte(benchMessage("udp", uc.LocalAddr().String(), "alice@"+localDomain, "bob@"+partnerDomain, 2_000_000))); err != nil {
		t.Fatal(err)
	}
	_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatalf("no answer over UDP: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 503 ") {
		t.Fatalf("a UDP request past the bound got %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	}

	// A sender that opens connection after connection, one request on each, gets in only up to
	// an eighth over the bound: with 33 in flight, three more, then 503.
	over := bound + bound/8 - (bound + 1)
	for i := 0; i <= over; i++ {
		c := dialCounted(t, w.internalAddr("tcp"))
		c.send(t, 3_000_000+i)
		if i == over {
			c.waitAnswers(t, 1)
			if c.shed.Load() != 1 {
				t.Fatal("a fresh connection past an eighth over the bound was not refused")
			}
			break
		}
		deadline := time.Now().Add(5 * time.Second)
		for received() != bound+2+i {
			if c.shed.Load() > 0 || time.Now().After(deadline) {
				t.Fatalf("fresh connection %d, under an eighth over the bound: refused %d, next hop got %d", i, c.shed.Load(), received())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if got := received(); got != bound+bound/8 {
		t.Fatalf("the next hop got %d requests, want %d: no more than an eighth over the bound", got, bound+bound/8)
	}
}

// silentStreamEdge is a TCP next hop that reads and never answers; received counts the
// requests that reached it.
func silentStreamEdge(t *testing.T) (addr string, received func() int) {
	var n atomic.Int64
	addr = streamEdge(t, nil, func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			// One CSeq line per request (a request line may follow the previous body on
			// its line).
			if strings.HasPrefix(sc.Text(), "CSeq: ") {
				n.Add(1)
			}
		}
	})
	return addr, func() int { return int(n.Load()) }
}

// countedConn is a raw TCP client that counts the final answers it gets.
type countedConn struct {
	conn     net.Conn
	ok, shed atomic.Int64
	answers  atomic.Int64
}

func dialCounted(t *testing.T, addr string) *countedConn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &countedConn{conn: conn}
	go func() {
		br := bufio.NewReaderSize(conn, 64<<10)
		for {
			start, err := readMessage(br, false)
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(start, "SIP/2.0 200"):
				c.ok.Add(1)
			case strings.HasPrefix(start, "SIP/2.0 503"):
				c.shed.Add(1)
			case strings.HasPrefix(start, "SIP/2.0 1"):
				continue
			}
			c.answers.Add(1)
		}
	}()
	return c
}

func (c *countedConn) send(t *testing.T, i int) {
	msg := benchMessage("tcp", c.conn.LocalAddr().String(), "alice@"+localDomain, "bob@"+partnerDomain, i)
	if _, err := c.conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// waitAnswers waits (10 s at most) until n final answers came.
func (c *countedConn) waitAnswers(t *testing.T, n int) {
	deadline := time.Now().Add(10 * time.Second)
	for c.answers.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests answered", c.answers.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
