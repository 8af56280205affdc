package transport

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
)

// recorder is a Handler that keeps a copy of every message it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []string
	srcs []Source
	got  chan string
}

func newRecorder() *recorder { return &recorder{got: make(chan string, 100)} }

func (r *recorder) HandleMessage(m *message.Msg, src *Source) {
	s := string(m.Buf)
	r.mu.Lock()
	r.msgs = append(r.msgs, s)
	r.srcs = append(r.srcs, *src)
	r.mu.Unlock()
	select {
	case r.got <- s:
	default:
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// next returns the next message handed over, within a bounded wait.
func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.got:
		return s
	case <-time.After(3 * time.Second):
		t.Fatal("no message handed to the handler")
		return ""
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTransport(t *testing.T, h Handler, lim Limits) *Transport {
	t.Helper()
	tp, err := New(Config{Handler: h, Limits: lim, Log: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tp.Close)
	return tp
}

var peerAddr = netip.MustParseAddrPort("192.0.2.1:40000")

// pipeConn is an accepted TCP connection whose socket is one end of a net.Pipe; the test holds
// the other end as the peer. It is tracked but not started.
func pipeConn(t *testing.T, tp *Transport, side Side) (*Conn, net.Conn) {
	t.Helper()
	a, b := pipeEnds(t)
	c := newConn(tp, side, TCP, peerAddr)
	c.nc = a
	if ok, reason := tp.track(c, true); !ok {
		t.Fatalf("track: %s", reason)
	}
	return c, b
}

// readN reads want bytes from the peer end, within a bounded wait.
func readN(t *testing.T, peer net.Conn, want int) string {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, want)
	if _, err := io.ReadFull(peer, buf); err != nil {
		t.Fatalf("read %d bytes from the connection: %v (got %q)", want, err, buf)
	}
	return string(buf)
}

// readToClose reads from the peer end until the connection closes, within a bounded wait.
func readToClose(t *testing.T, peer net.Conn) string {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(peer)
	if err != nil {
		t.Fatalf("reading until close: %v (got %q)", err, b)
	}
	return string(b)
}

func waitClosed(t *testing.T, c *Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the connection did not close")
	}
}

func refusals(tp *Transport, side Side, reason string) float64 {
	var d dto.Metric
	_ = tp.m.refused.WithLabelValues(side.String(), reason).Write(&d)
	return d.GetCounter().GetValue()
}

func sipMsg(method, branch, body string) string {
	return method + " sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP 192.0.2.1:40000;branch=z9hG4bK" + branch + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@partner.example>;tag=1\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: c-" + branch + "\r\n" +
		"CSeq: 1 " + method + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}
