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

// A TCP sender that outpaces the proxy builds a queue in the socket, where no request carries
// a receive time. The proxy sees the queue (its length, polled), refuses the requests that
// waited past the target with 503 at admission, and answers every request; a quiet connection
// beside it is not refused, and the backlogged one is served again once its queue is gone.
func TestStreamBacklogSheds503(t *testing.T) {
	const n = 20000
	w := newWorld(t, func(w *world, c *Config) {
		c.Overload = core.OverloadConfig{QueueDelay: 20 * time.Millisecond, Interval: 50 * time.Millisecond}
	})
	edge := rawStreamUAS(t, nil)
	f := w.fed
	f.routes = []api.StaticRoute{route(partnerDomain, edge, api.ProtocolTCP, 1)}
	w.set(f)
	quiet := dialCounted(t, w.internalAddr("tcp"))
	busy := dialCounted(t, w.internalAddr("tcp"))

	// Written in bursts with no wait for answers: the socket queue grows to megabytes.
	local := busy.conn.LocalAddr().String()
	var burst strings.Builder
	for i := 0; i < n; i++ {
		burst.WriteString(benchMessage("tcp", local, "alice@"+localDomain, "bob@"+partnerDomain, i))
		if burst.Len() > 256<<10 || i == n-1 {
			if _, err := busy.conn.Write([]byte(burst.String())); err != nil {
				t.Fatal(err)
			}
			burst.Reset()
		}
		if i == n/2 {
			quiet.send(t, 1_000_000)
		}
	}
	busy.waitAnswers(t, n)
	quiet.waitAnswers(t, 1)
	if busy.shed.Load() == 0 {
		t.Fatalf("of %d requests queued in the socket, %d answered 200 and none 503", n, busy.ok.Load())
	}
	if quiet.ok.Load() != 1 {
		t.Fatalf("the quiet connection's request was refused (%d 503)", quiet.shed.Load())
	}
	if v := w.metric(t, telemetry.MetricSIPShed, "reason="+telemetry.ReasonQueueDelay); v != float64(busy.shed.Load()) {
		t.Errorf("%s{reason=%s} = %v, the connection got %d", telemetry.MetricSIPShed, telemetry.ReasonQueueDelay, v, busy.shed.Load())
	}
	t.Logf("%d requests in one socket queue: %d answered 200, %d refused 503", n, busy.ok.Load(), busy.shed.Load())

	// The queue is gone: the same connection is served again (a later interval sees short
	// waits).
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		ok0 := busy.ok.Load()
		busy.send(t, n+i)
		busy.waitAnswers(t, n+i+1)
		if busy.ok.Load() > ok0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection was still refused 5 s after its queue drained")
		}
		time.Sleep(20 * time.Millisecond)
	}
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
