package core

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// streamHop is a next hop on loopback TCP, written here: it takes the connection the core
// dials, and answers as a test tells it.
type streamHop struct {
	ln   net.Listener
	addr netip.AddrPort
}

func newStreamHop(t *testing.T) *streamHop {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &streamHop{ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
}

func (h *streamHop) target() Target {
	return Target{Side: transport.Internal, Proto: transport.TCP, Addr: h.addr}
}

// streamRig is a rig whose transport also listens on internal TCP, and serves: a next hop can
// answer on a connection of its own (back).
func streamRig(t *testing.T) (r *rig, back netip.AddrPort) {
	t.Helper()
	r = newRig(t, Config{HopTimeout: 10 * time.Second, HealthBackoff: time.Minute, ViaHost: "127.0.0.1"})
	back, err := r.tp.Listen(transport.Internal, transport.TCP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.tp.Serve()
	return r, back
}

// answerOnItsOwn sends the next hop's response to fwd on a new connection to back, as sipp does.
func answerOnItsOwn(t *testing.T, back netip.AddrPort, fwd *message.Msg, status int, reason string) {
	t.Helper()
	c, err := net.Dial("tcp4", back.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write(appendResponse(fwd, status, reason)); err != nil {
		t.Fatal(err)
	}
}

// request accepts the core's connection and reads one request from it.
func (h *streamHop) request(t *testing.T) (net.Conn, *message.Msg) {
	t.Helper()
	_ = h.ln.(*net.TCPListener).SetDeadline(time.Now().Add(readTimeout))
	c, err := h.ln.Accept()
	if err != nil {
		t.Fatalf("next hop: accept: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	br := bufio.NewReader(c)
	var head []byte
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("next hop: read: %v", err)
		}
		head = append(head, line...)
		if v, ok := strings.CutPrefix(line, "Content-Length:"); ok {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatalf("next hop: read body: %v", err)
	}
	m := new(message.Msg)
	if err := message.Parse(m, append(head, body...), false, message.DefaultLimits); err != nil {
		t.Fatalf("next hop: %v\n%s", err, append(head, body...))
	}
	return c, m
}

// A next hop may answer on a connection of its own and close the one the request came on
// (sipp does both): the close is no failure of the branch while its answer may still come.
// Seen in the field: two sites and sipp, under load; the close was read first, the branch
// failed over at once, the caller got 503 "no next hop answered" and the hop was marked down.
func TestAnswerAfterTheRequestsConnectionClosed(t *testing.T) {
	r, back := streamRig(t)
	caller, hop := newPeer(t), newStreamHop(t)
	r.pol.forwardTo(hop.target())

	r.request(t, caller, message1("lost1"))
	conn, fwd := hop.request(t)
	_ = conn.Close()
	// The close reaches the core first: the answer comes later, on another connection.
	waitConnLost(t, r.c)
	answerOnItsOwn(t, back, fwd, 200, "OK")
	caller.status(t, 200)
	if r.c.health.known(&Target{Side: transport.Internal, Proto: transport.TCP, Addr: hop.addr}) {
		t.Error("the next hop is marked down: it answered")
	}
}

// A next hop that closes the connection without answering fails the branch soon after, not at
// the hop timeout, and is marked down.
func TestCloseWithoutAnswerFailsOverSoon(t *testing.T) {
	r := newRig(t, Config{HopTimeout: 10 * time.Second, HealthBackoff: time.Minute, ViaHost: "127.0.0.1"})
	caller, hop, good := newPeer(t), newStreamHop(t), newPeer(t)
	r.pol.forwardTo(hop.target(), good.target())

	start := time.Now()
	r.request(t, caller, message1("lost2"))
	conn, _ := hop.request(t)
	_ = conn.Close()
	fwd := good.method(t, "MESSAGE")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("failed over after %v: want well within the hop timeout (10s)", d)
	}
	r.answer(t, good, fwd, 200, "OK")
	caller.status(t, 200)
	if !r.c.health.known(&Target{Side: transport.Internal, Proto: transport.TCP, Addr: hop.addr}) {
		t.Error("the next hop that closed without answering is not marked down")
	}
}

// The same for a ringing INVITE: the callee rang on the request's connection, closed it, and
// answers on its own. Had it not answered, the caller would get 503 soon after the close, not
// at Timer C.
func TestRingingInviteAnsweredAfterItsConnectionClosed(t *testing.T) {
	for _, answers := range []bool{true, false} {
		r, back := streamRig(t)
		caller, hop := newPeer(t), newStreamHop(t)
		r.pol.forwardTo(hop.target())

		start := time.Now()
		r.request(t, caller, invite("ring"+strconv.FormatBool(answers)))
		conn, fwd := hop.request(t)
		if _, err := conn.Write(appendResponse(fwd, 180, "Ringing")); err != nil {
			t.Fatal(err)
		}
		caller.status(t, 180)
		_ = conn.Close()
		waitConnLost(t, r.c)
		if !answers {
			res := caller.status(t, 503)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("503 after %v: want soon after the close", d)
			}
			if w, _ := res.First(message.Warning); !strings.Contains(res.Str(w.Value), "connection to the next hop closed") {
				t.Errorf("503 without the reason: %q", res.Str(w.Value))
			}
			continue
		}
		answerOnItsOwn(t, back, fwd, 200, "OK")
		caller.status(t, 200)
	}
}

// waitConnLost waits until a branch of c has seen its connection close after its request was
// written.
func waitConnLost(t *testing.T, c *Core) {
	t.Helper()
	waitFor(t, 2*time.Second, "a branch to see its connection close", func() bool {
		var ctxs []*clientTx
		for i := range c.clients.s {
			sh := &c.clients.s[i]
			sh.mu.Lock()
			for _, ctx := range sh.m {
				ctxs = append(ctxs, ctx)
			}
			sh.mu.Unlock()
		}
		for _, ctx := range ctxs {
			ctx.stx.mu.Lock()
			lost := ctx.connLost
			ctx.stx.mu.Unlock()
			if lost {
				return true
			}
		}
		return false
	})
}
