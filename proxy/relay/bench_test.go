package relay

import (
	"bufio"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
)

// The benchmarks push MESSAGEs through an in-process relay with a raw, stateless client and
// partner edge, so that a CPU profile (go test -bench . -cpuprofile) shows the relay's cost. The
// load scripts under bench/ measure the real binary.

func BenchmarkMessageUDP(b *testing.B) { benchMessages(b, "udp") }

// BenchmarkShedUDP answers every request 503 from an overloaded relay: what refusing costs.
func BenchmarkShedUDP(b *testing.B)    { benchMessages(b, "udp-shed") }
func BenchmarkMessageTCP(b *testing.B) { benchMessages(b, "tcp") }

// BenchmarkMessageTLS sends from a partner over mutual TLS to the internal next hop, so the
// per-request identity check and the incoming ACL are in the path.
func BenchmarkMessageTLS(b *testing.B) { benchMessages(b, "tls") }

func benchMessages(b *testing.B, transport string) {
	t := b
	p := newPKI(b)
	h := &holder{}
	var edge string
	// The probe stays off (a benchmark's own load is not the relay's); see BenchmarkShedUDP.
	cfg := Config{Logger: testLogger(t), NodeFQDN: nodeFQDN, TLS: p.proxyMat, Overload: core.OverloadConfig{Disabled: true}}
	shed := transport == "udp-shed"
	if shed {
		// Any wait at all is over the target: once the first window has passed, every new
		// request is refused at admission.
		transport = "udp"
		cfg.Overload = core.OverloadConfig{QueueDelay: time.Nanosecond, Interval: time.Microsecond}
	}
	switch transport {
	case "udp":
		edge = rawUAS(t)
		cfg.Internal = []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}}
	case "tcp":
		edge = rawStreamUAS(b, nil)
		cfg.Internal = []Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}}
	case "tls":
		edge = rawStreamUAS(b, p.serverTLS(p.internal))
		cfg.External = []Listener{{Transport: "tls", Addr: "127.0.0.1:0"}}
		cfg.InternalNextHop = NextHop{Host: "127.0.0.1", Port: portNum(edge), Transport: "tls"}
	}
	h.p.Store(fed{
		domains:  []api.FederatedDomain{{Domain: partnerDomain}},
		routes:   []api.StaticRoute{route(partnerDomain, edge, transport, 1)},
		subjects: []string{partnerEdge},
	}.snapshot())
	r, err := New(cfg, h, testDNS(b))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = r.Run(b.Context()); close(done) }()
	defer func() { r.Close(); <-done }()

	var conn net.Conn
	switch transport {
	case "udp":
		conn, err = net.Dial("udp", listenerAddr(r.InternalAddrs(), "udp"))
	case "tcp":
		conn, err = net.Dial("tcp", listenerAddr(r.InternalAddrs(), "tcp"))
	case "tls":
		conn, err = tls.Dial("tcp", listenerAddr(r.ExternalAddrs(), "tls"), clientTLS(p.partner, p.ca))
	}
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	from, to := "alice@"+localDomain, "bob@"+partnerDomain
	if transport == "tls" {
		from, to = "bob@"+partnerDomain, "alice@"+localDomain
	}
	local := conn.LocalAddr().String()
	window := benchWindow
	credits := make(chan struct{}, window)
	for i := 0; i < window; i++ {
		credits <- struct{}{}
	}
	var ok atomic.Int64
	go func() {
		br := bufio.NewReaderSize(conn, 64<<10)
		for {
			start, err := readMessage(br, transport == "udp")
			if err != nil {
				return
			}
			if strings.HasPrefix(start, "SIP/2.0 200") || shed && strings.HasPrefix(start, "SIP/2.0 503") {
				ok.Add(1)
			}
			if !strings.HasPrefix(start, "SIP/2.0 1") {
				credits <- struct{}{}
			}
		}
	}()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		select {
		case <-credits:
		case <-time.After(5 * time.Second):
			b.Fatalf("stalled after %d of %d", i, b.N)
		}
		_, _ = conn.Write([]byte(benchMessage(transport, local, from, to, i)))
	}
	for i := 0; i < window; i++ {
		select {
		case <-credits:
		case <-time.After(5 * time.Second):
			b.Fatalf("%d requests unanswered", window-i)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if n := ok.Load(); n != int64(b.N) {
		b.Fatalf("%d of %d answered 200", n, b.N)
	}
}

// cpuTime is the CPU time the process used, in ns: wall time says little on a shared machine.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func portNum(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func benchMessage(transport, local, from, to string, i int) string {
	n := strconv.Itoa(i)
	return "MESSAGE sip:" + to + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + strings.ToUpper(transport) + " " + local + ";branch=z9hG4bK-bench-" + n + "\r\n" +
		"From: <sip:" + from + ">;tag=" + n + "\r\n" +
		"To: <sip:" + to + ">\r\n" +
		"Call-ID: bench-" + n + "@127.0.0.1\r\n" +
		"CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
}

// readMessage reads one SIP message from a stream and returns its start line. On a datagram
// socket every read is one message.
func readMessage(br *bufio.Reader, datagram bool) (string, error) {
	if datagram {
		buf := make([]byte, 8192)
		n, err := br.Read(buf)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		return line, nil
	}
	start := ""
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if start == "" {
			if line == "" {
				continue
			}
			start = line
			continue
		}
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Content-Length") || name == "l" {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
	}
	_, err := br.Discard(length)
	return start, err
}

// rawStreamUAS answers every request on TCP (or TLS when cfg is set) with 200, statelessly.
func rawStreamUAS(b *testing.B, cfg *tls.Config) string {
	var ln net.Listener
	var err error
	if cfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveStream(c)
		}
	}()
	return ln.Addr().String()
}

func serveStream(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	for {
		var res strings.Builder
		length := 0
		first := true
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if first {
				if line == "" {
					continue
				}
				first = false
				res.WriteString("SIP/2.0 200 OK\r\n")
				continue
			}
			if line == "" {
				break
			}
			name, value, _ := strings.Cut(line, ":")
			switch strings.ToLower(name) {
			case "via", "from", "call-id", "cseq", "record-route":
				res.WriteString(line + "\r\n")
			case "to":
				res.WriteString(line + ";tag=raw\r\n")
			case "content-length":
				length, _ = strconv.Atoi(strings.TrimSpace(value))
			}
		}
		if _, err := br.Discard(length); err != nil {
			return
		}
		res.WriteString("Content-Length: 0\r\n\r\n")
		_, _ = bw.WriteString(res.String())
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}

// benchWindow is how many requests a benchmark keeps outstanding.
var benchWindow = 64

// rawUAS is a stateless UDP partner edge: it answers every request 200, echoing what a response
// copies.
func rawUAS(t testing.TB) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 8192)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var res strings.Builder
			res.WriteString("SIP/2.0 200 OK\r\n")
			for _, line := range strings.Split(string(buf[:n]), "\r\n") {
				name, _, _ := strings.Cut(line, ":")
				switch strings.ToLower(name) {
				case "via", "from", "call-id", "cseq", "record-route":
					res.WriteString(line + "\r\n")
				case "to":
					res.WriteString(line + ";tag=raw\r\n")
				}
			}
			res.WriteString("Content-Length: 0\r\n\r\n")
			_, _ = pc.WriteTo([]byte(res.String()), from)
		}
	}()
	return pc.LocalAddr().String()
}
