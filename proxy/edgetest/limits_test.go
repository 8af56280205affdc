package edgetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

func withLimits(l transport.Limits) worldOption {
	return func(c *relay.Config) { c.Limits = l }
}

// A message over the size limit gets 513 where a response can be sent; on a stream the
// connection then closes, since what follows cannot be framed.
func TestOversizeMessagesGet513(t *testing.T) {
	w := newWorld(t)
	big := strings.Repeat("x", 70000)
	t.Run("udp", func(t *testing.T) {
		// No UDP datagram exceeds the default limit (65,535 bytes): lower it.
		w := newWorld(t, withLimits(transport.Limits{MaxMessageSize: 16 << 10}))
		cl := w.internalClient(t, "udp")
		body := strings.Repeat("x", 20000)
		raw := strings.Replace(req("MESSAGE", "sip:bob@a.test", "udp "+cl.local(), nil), "Content-Length: 0\r\n\r\n",
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body, 1)
		cl.send(t, raw)
		if res, ok := cl.read(3 * time.Second); !ok || res.status() != 513 {
			t.Fatalf("got %q, want 513", res.start)
		}
	})
	t.Run("tcp body", func(t *testing.T) {
		cl := w.internalClient(t, "tcp")
		raw := strings.Replace(req("MESSAGE", "sip:bob@a.test", "tcp "+cl.local(), nil), "Content-Length: 0\r\n\r\n",
			"Content-Length: "+strconv.Itoa(len(big))+"\r\n\r\n"+big, 1)
		cl.send(t, raw)
		if res, ok := cl.read(3 * time.Second); !ok || res.status() != 513 {
			t.Fatalf("got %q, want 513", res.start)
		}
		if _, ok := cl.read(2 * time.Second); ok {
			t.Fatal("the connection stayed open after a message it could not frame")
		}
	})
	t.Run("tcp headers that never end", func(t *testing.T) {
		cl := w.internalClient(t, "tcp")
		head := strings.TrimSuffix(req("MESSAGE", "sip:bob@a.test", "tcp "+cl.local(), nil), "Content-Length: 0\r\n\r\n")
		cl.send(t, head+"X-Filler: "+big+"\r\n")
		if res, ok := cl.read(3 * time.Second); !ok || res.status() != 513 {
			t.Fatalf("got %q, want 513", res.start)
		}
	})
}

// A message that starts and never finishes is cut at the message timeout; an idle connection at
// the idle timeout.
func TestSlowAndIdleConnectionsAreCut(t *testing.T) {
	w := newWorld(t, withLimits(transport.Limits{MessageTimeout: 500 * time.Millisecond,
		IdleTimeout: [2]time.Duration{time.Second, time.Second}}))
	t.Run("partial headers", func(t *testing.T) {
		cl := w.internalClient(t, "tcp")
		cl.send(t, "MESSAGE sip:bob@a.test SIP/2.0\r\nVia: SIP/2.0/TCP "+cl.local()+";branch=z9hG4bKslow\r\n")
		start := time.Now()
		if _, ok := cl.read(5 * time.Second); ok {
			t.Fatal("got a message")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("a partial message was held %v, past the 500 ms message timeout", d)
		}
	})
	t.Run("idle", func(t *testing.T) {
		cl := w.internalClient(t, "tcp")
		start := time.Now()
		if _, ok := cl.read(5 * time.Second); ok {
			t.Fatal("got a message")
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
			t.Fatalf("an idle connection closed after %v, want the 1 s idle timeout", d)
		}
	})
}

// The external side accepts a bounded number of connections per source address; the internal
// side, often one presence server, is not bounded by default.
func TestConnectionsPerAddress(t *testing.T) {
	w := newWorld(t, withLimits(transport.Limits{MaxConnsPerAddress: [2]int{transport.External: 2}}))
	var held []*tls.Conn
	for i := range 3 {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.90")}},
			"tcp", w.externalAddr(), mutualTLS(w.leafA, w.ourCA))
		if i < 2 {
			if err != nil {
				t.Fatalf("connection %d: %v", i+1, err)
			}
			held = append(held, c)
			continue
		}
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatal("a third connection from one address was served")
		}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.91")}},
		"tcp", w.externalAddr(), mutualTLS(w.leafA, w.ourCA))
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	c.Close()
	for _, c := range held {
		c.Close()
	}
	for i := range 10 {
		cl := dial(t, "tcp", w.internalAddr("tcp"), nil, ipInternalServer)
		cl.send(t, req("OPTIONS", "sip:fed.example.com", "tcp "+cl.local(), nil))
		if res, ok := cl.read(3 * time.Second); !ok || res.status() != 200 {
			t.Fatalf("internal connection %d from one address: %q", i+1, res.start)
		}
	}
}

// Connections holding partial messages share one budget: past it, the connection that would
// exceed it is closed, and the proxy goes on serving.
func TestPartialMessageBudget(t *testing.T) {
	w := newWorld(t, withLimits(transport.Limits{PartialBudget: 300 << 10, MessageTimeout: time.Minute}))
	var closed, alive int
	var conns []net.Conn
	for i := range 12 {
		c, err := net.DialTimeout("tcp", w.internalAddr("tcp"), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_, _ = c.Write([]byte("MESSAGE sip:bob@a.test SIP/2.0\r\nX-Filler: " + strings.Repeat("y", 60000)))
		_ = i
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		if err == io.EOF || (err != nil && !isTimeout(err)) {
			closed++
		} else {
			alive++
		}
		c.Close()
	}
	if closed == 0 || alive == 0 {
		t.Fatalf("%d connections closed, %d alive: want the budget (300 KiB) to hold some and refuse the rest", closed, alive)
	}
	cl := w.internalClient(t, "tcp")
	cl.send(t, req("MESSAGE", "sip:bob@a.test", "tcp "+cl.local(), nil))
	if res, _ := cl.final(t, 5*time.Second); res.status() != 200 {
		t.Fatalf("after the budget was spent: %s", res.start)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// lineCounter is a log handler that counts lines and keeps the longest.
type lineCounter struct {
	mu      sync.Mutex
	lines   int
	longest int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		l.lines++
		l.longest = max(l.longest, len(line))
	}
	return len(p), nil
}

// Failed handshakes and garbage cannot be turned into log volume: they are counted, and logged
// a few lines at a time, each with at most a short excerpt.
func TestLogsCannotBeFlooded(t *testing.T) {
	lc := &lineCounter{}
	log := slog.New(slog.NewTextHandler(lc, &slog.HandlerOptions{Level: slog.LevelInfo}))
	w2 := newWorldWith(t, log)
	lc.mu.Lock()
	base := lc.lines
	lc.mu.Unlock()
	rogue := testpki.MustCA("rogue")
	bad := rogue.MustIssue(testLeaf("edge.a.test"))
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", w2.externalAddr(), mutualTLS(bad, w2.ourCA))
			if err == nil {
				_, _ = c.Read(make([]byte, 1))
				c.Close()
			}
		}()
	}
	wg.Wait()
	cl := dial(t, "udp", w2.internalAddr("udp"), nil, ipInternalServer)
	garbage := "MESSAGE sip:x SIP/2.0\r\n" + strings.Repeat("\x01garbage", 4800)
	for range 200 {
		cl.send(t, garbage)
	}
	time.Sleep(300 * time.Millisecond)
	lc.mu.Lock()
	lines, longest := lc.lines-base, lc.longest
	lc.mu.Unlock()
	if lines > 30 {
		t.Errorf("200 failed handshakes and 200 bad datagrams wrote %d log lines", lines)
	}
	if longest > 1024 {
		t.Errorf("a log line is %d bytes long", longest)
	}
	fails := metricValue(t, w2.proxy.Endpoint, "sipfed_tls_handshake_failures_total")
	if fails < 200 {
		t.Errorf("handshake failures counted %v, want 200", fails)
	}
}

// metricValue sums a metric's series as /metrics shows them.
func metricValue(t *testing.T, endpoint, name string) float64 {
	t.Helper()
	req, _ := httpGet(context.Background(), endpoint+"/metrics")
	var sum float64
	for _, line := range strings.Split(req, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}
