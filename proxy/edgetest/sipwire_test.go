package edgetest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These helpers speak SIP as plain text, independently of the proxy's own parser: what the
// tests check must not rest on the code under test.

// wireMsg is a message as a test reads it.
type wireMsg struct {
	raw     string
	start   string
	headers []string // "Name: value" lines, unfolded
	body    string
}

func parseWire(raw string) wireMsg {
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	m := wireMsg{raw: raw, start: lines[0], body: body}
	for _, l := range lines[1:] {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(m.headers) > 0 {
			m.headers[len(m.headers)-1] += " " + strings.TrimSpace(l)
			continue
		}
		m.headers = append(m.headers, l)
	}
	return m
}

// all returns the values of every header named name (long or compact form).
func (m wireMsg) all(name string, compact string) []string {
	var out []string
	for _, h := range m.headers {
		n, v, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		n = strings.TrimSpace(n)
		if strings.EqualFold(n, name) || (compact != "" && strings.EqualFold(n, compact)) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func (m wireMsg) get(name, compact string) string {
	if v := m.all(name, compact); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m wireMsg) status() int {
	if !strings.HasPrefix(m.start, "SIP/2.0 ") {
		return 0
	}
	n, _ := strconv.Atoi(m.start[8:11])
	return n
}

func (m wireMsg) method() string {
	method, _, _ := strings.Cut(m.start, " ")
	return method
}

// readStream reads one message from a stream.
func readStream(br *bufio.Reader) (string, error) {
	var head bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == "\r\n" && head.Len() == 0 {
			continue // keepalive
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	m := parseWire(head.String())
	n, _ := strconv.Atoi(m.get("Content-Length", "l"))
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return "", err
	}
	return head.String() + string(body), nil
}

// peer is a SIP peer on one socket: a UAC, a UAS, a partner edge or an internal server. It
// records every message it gets and, when answer is set, answers requests with it.
type peer struct {
	t      *testing.T
	addr   string
	mu     sync.Mutex
	got    []wireMsg
	ch     chan wireMsg
	answer func(req wireMsg) []string // responses to send (raw); nil: none
	conns  []net.Conn
	closed chan net.Conn
	pc     net.PacketConn
	// accepted counts stream connections.
	accepted int
}

func (p *peer) record(m wireMsg) {
	p.mu.Lock()
	p.got = append(p.got, m)
	p.mu.Unlock()
	select {
	case p.ch <- m:
	default:
	}
}

func (p *peer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

func (p *peer) messages() []wireMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]wireMsg(nil), p.got...)
}

// drain forgets the messages not yet taken by next.
func (p *peer) drain() {
	for {
		select {
		case <-p.ch:
		default:
			return
		}
	}
}

// next waits for the next message the peer gets.
func (p *peer) next(t *testing.T, within time.Duration) (wireMsg, bool) {
	t.Helper()
	select {
	case m := <-p.ch:
		return m, true
	case <-time.After(within):
		return wireMsg{}, false
	}
}

// startPeer listens on ip:0 over udp, tcp or tls (tlsConf required for tls).
func startPeer(t *testing.T, transport, ip string, tlsConf *tls.Config) *peer {
	t.Helper()
	p := &peer{t: t, ch: make(chan wireMsg, 1000), closed: make(chan net.Conn, 100)}
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		p.pc, p.addr = pc, pc.LocalAddr().String()
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 70000)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				m := parseWire(string(buf[:n]))
				p.record(m)
				if p.answer != nil && m.status() == 0 {
					go func() {
						for _, r := range p.answer(m) {
							_, _ = pc.WriteTo([]byte(r), from)
						}
					}()
				}
			}
		}()
	default:
		var ln net.Listener
		var err error
		if transport == "tls" {
			ln, err = tls.Listen("tcp", ip+":0", tlsConf)
		} else {
			ln, err = net.Listen("tcp", ip+":0")
		}
		if err != nil {
			t.Fatal(err)
		}
		p.addr = ln.Addr().String()
		t.Cleanup(func() {
			ln.Close()
			p.mu.Lock()
			for _, c := range p.conns {
				c.Close()
			}
			p.mu.Unlock()
		})
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				p.mu.Lock()
				p.conns = append(p.conns, c)
				p.accepted++
				p.mu.Unlock()
				go p.serveConn(c)
			}
		}()
	}
	return p
}

func (p *peer) serveConn(c net.Conn) {
	defer func() {
		select {
		case p.closed <- c:
		default:
		}
	}()
	br := bufio.NewReader(c)
	var wmu sync.Mutex
	for {
		raw, err := readStream(br)
		if err != nil {
			return
		}
		m := parseWire(raw)
		p.record(m)
		if p.answer != nil && m.status() == 0 {
			// Each request is answered on its own: a slow answer holds up no other.
			go func() {
				var out bytes.Buffer
				for _, r := range p.answer(m) {
					out.WriteString(r)
				}
				// All of a request's answers go out in one write: a 180 right before its
				// 200 must not be merged or reordered on the way.
				if out.Len() > 0 {
					wmu.Lock()
					_, _ = c.Write(out.Bytes())
					wmu.Unlock()
				}
			}()
		}
	}
}

// respond builds a response to req: its Vias, From, To (with a tag), Call-ID and CSeq, then
// extra headers.
func respond(req wireMsg, status int, reason string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", status, reason)
	for _, h := range req.headers {
		n, _, _ := strings.Cut(h, ":")
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "via", "v", "from", "f", "call-id", "i", "cseq", "record-route":
			b.WriteString(h + "\r\n")
		case "to", "t":
			if strings.Contains(h, ";tag=") || status == 100 {
				b.WriteString(h + "\r\n")
			} else {
				b.WriteString(h + ";tag=uas" + strconv.Itoa(status) + "\r\n")
			}
		}
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// client is a raw SIP client over one socket.
type client struct {
	c   net.Conn
	br  *bufio.Reader
	udp bool
}

func dial(t *testing.T, transport, addr string, tlsConf *tls.Config, local string) *client {
	t.Helper()
	var c net.Conn
	var err error
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		if transport == "udp" {
			d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(local)}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
	}
	switch transport {
	case "tls":
		c, err = tls.DialWithDialer(&d, "tcp", addr, tlsConf)
	case "udp":
		c, err = d.Dial("udp", addr)
	default:
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, br: bufio.NewReader(c), udp: transport == "udp"}
}

func (c *client) local() string { return c.c.LocalAddr().String() }

func (c *client) send(t *testing.T, raw string) {
	t.Helper()
	if _, err := c.c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
}

// read returns the next message, or false after within.
func (c *client) read(within time.Duration) (wireMsg, bool) {
	_ = c.c.SetReadDeadline(time.Now().Add(within))
	if c.udp {
		buf := make([]byte, 70000)
		n, err := c.c.Read(buf)
		if err != nil {
			return wireMsg{}, false
		}
		return parseWire(string(buf[:n])), true
	}
	raw, err := readStream(c.br)
	if err != nil {
		return wireMsg{}, false
	}
	return parseWire(raw), true
}

// final reads until a final response and returns it with the provisional ones before it.
func (c *client) final(t *testing.T, within time.Duration) (wireMsg, []wireMsg) {
	t.Helper()
	var prov []wireMsg
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		m, ok := c.read(time.Until(deadline))
		if !ok {
			break
		}
		if s := m.status(); s >= 100 && s < 200 {
			prov = append(prov, m)
			continue
		}
		if m.status() >= 200 {
			return m, prov
		}
	}
	t.Fatalf("no final response within %v (provisional: %d)", within, len(prov))
	return wireMsg{}, nil
}

var callSeq struct {
	mu sync.Mutex
	n  int
}

// req builds a request; headers are "Name: value" lines put after the usual ones, or instead
// of a usual one when override names it.
func req(method, ruri, via string, override map[string]string, extra ...string) string {
	callSeq.mu.Lock()
	callSeq.n++
	n := callSeq.n
	callSeq.mu.Unlock()
	std := []struct{ name, value string }{
		{"Via", "SIP/2.0/" + strings.ToUpper(strings.SplitN(via, " ", 2)[0]) + " " + strings.SplitN(via, " ", 2)[1] + ";branch=z9hG4bKtest" + strconv.Itoa(n) + ";rport"},
		{"Max-Forwards", "70"},
		{"From", "<sip:alice@example.com>;tag=f" + strconv.Itoa(n)},
		{"To", "<" + strings.SplitN(ruri, ";", 2)[0] + ">"},
		{"Call-ID", "call" + strconv.Itoa(n) + "@10.9.9.9"},
		{"CSeq", "1 " + method},
	}
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	for _, h := range std {
		if v, ok := override[h.name]; ok {
			if v != "" {
				b.WriteString(h.name + ": " + v + "\r\n")
			}
			continue
		}
		b.WriteString(h.name + ": " + h.value + "\r\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}
