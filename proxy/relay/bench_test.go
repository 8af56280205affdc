package relay

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
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

// BenchmarkParallel runs one client per goroutine (b.RunParallel), each on a connection (or UDP
// socket) of its own, so that with -cpu 1,2,4 it shows whether the relay path scales with the
// cores it gets: the relay, the clients and the edge share GOMAXPROCS, so ns/op falling as -cpu
// rises is the measure, not its absolute value.
func BenchmarkParallel(b *testing.B) {
	for _, transport := range []string{"udp", "tcp", "tls"} {
		b.Run(transport, func(b *testing.B) {
			rig := newBenchRig(b, transport)
			var seq atomic.Int64
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				c := rig.client(b, benchWindow)
				defer c.close()
				for pb.Next() {
					if !c.send(int(seq.Add(1))) {
						return
					}
				}
				c.drain()
			})
			rig.finish(b, cpu0)
		})
	}
}

func benchMessages(b *testing.B, transport string) {
	rig := newBenchRig(b, transport)
	c := rig.client(b, benchWindow)
	defer c.close()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if !c.send(i) {
			return
		}
	}
	c.drain()
	rig.finish(b, cpu0)
}

// finish stops the clock, reports the CPU time per request since cpu0, and fails the benchmark
// unless every request got the answer it expects.
func (rig *benchRig) finish(b *testing.B, cpu0 int64) {
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if n := rig.ok.Load(); n != int64(b.N) {
		b.Fatalf("%d of %d answered as expected", n, b.N)
	}
}

// benchRig is a running relay with a federation and a stateless edge behind it.
type benchRig struct {
	transport string
	shed      bool
	r         *Relay
	p         *pki
	ok        atomic.Int64 // requests answered as the benchmark expects
}

func newBenchRig(b *testing.B, transport string) *benchRig {
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
		cfg.Overload = core.OverloadConfig{UDPQueueDelay: time.Nanosecond, Interval: time.Microsecond}
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
	b.Cleanup(func() { r.Close(); <-done })
	return &benchRig{transport: transport, shed: shed, r: r, p: p}
}

// benchClient sends MESSAGEs on one connection, keeping at most its window outstanding.
type benchClient struct {
	b        *testing.B
	rig      *benchRig
	conn     net.Conn
	local    string
	from, to string
	window   int
	credits  chan struct{}
}

func (rig *benchRig) client(b *testing.B, window int) *benchClient {
	var conn net.Conn
	var err error
	switch rig.transport {
	case "udp":
		conn, err = net.Dial("udp", listenerAddr(rig.r.InternalAddrs(), "udp"))
	case "tcp":
		conn, err = net.Dial("tcp", listenerAddr(rig.r.InternalAddrs(), "tcp"))
	case "tls":
		conn, err = tls.Dial("tcp", listenerAddr(rig.r.ExternalAddrs(), "tls"), clientTLS(rig.p.partner, rig.p.ca))
	}
	if err != nil {
		b.Fatal(err)
	}
	c := &benchClient{b: b, rig: rig, conn: conn, local: conn.LocalAddr().String(), window: window,
		from: "alice@" + localDomain, to: "bob@" + partnerDomain, credits: make(chan struct{}, window)}
	if rig.transport == "tls" {
		c.from, c.to = "bob@"+partnerDomain, "alice@"+localDomain
	}
	for i := 0; i < window; i++ {
		c.credits <- struct{}{}
	}
	go func() {
		br := bufio.NewReaderSize(conn, 64<<10)
		for {
			start, err := readMessage(br, rig.transport == "udp")
			if err != nil {
				return
			}
			if strings.HasPrefix(start, "SIP/2.0 200") || rig.shed && strings.HasPrefix(start, "SIP/2.0 503") {
				rig.ok.Add(1)
			}
			if !strings.HasPrefix(start, "SIP/2.0 1") {
				c.credits <- struct{}{}
			}
		}
	}()
	return c
}

// send waits for a credit and sends request i; false (after failing the benchmark) when no
// answer freed one in time.
func (c *benchClient) send(i int) bool {
	select {
	case <-c.credits:
	case <-time.After(5 * time.Second):
		c.b.Errorf("stalled at request %d", i)
		return false
	}
	_, _ = c.conn.Write([]byte(benchMessage(c.rig.transport, c.local, c.from, c.to, i)))
	return true
}

// drain waits for the answers to everything outstanding.
func (c *benchClient) drain() {
	for i := 0; i < c.window; i++ {
		select {
		case <-c.credits:
		case <-time.After(5 * time.Second):
			c.b.Errorf("%d requests unanswered", c.window-i)
			return
		}
	}
}

func (c *benchClient) close() { _ = c.conn.Close() }

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
func rawStreamUAS(b testing.TB, cfg *tls.Config) string { return streamEdge(b, cfg, serveStream) }

// streamEdge listens on loopback over TCP (or TLS when cfg is set) and hands each connection
// to serve on a goroutine of its own, which closes it.
func streamEdge(b testing.TB, cfg *tls.Config, serve func(net.Conn)) string {
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
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func serveStream(c net.Conn) {
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

// BenchmarkLiveUDPTransactions holds 10,000 MESSAGE transactions open at once (the next hop
// never answers) and reports what one costs: heap-B/tx is the Go heap after a collection, and
// rss-B/tx the process's resident memory, both per live transaction, less the same relay idle.
// msg-B is the size of the request as forwarded, which a transaction must hold to retransmit
// it. Run it with -benchtime 1x: each iteration opens its own 10,000.
func BenchmarkLiveUDPTransactions(b *testing.B) {
	const n = 10000
	p := newPKI(b)
	h := &holder{}
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer hole.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	cfg := Config{Logger: testLogger(b), NodeFQDN: nodeFQDN, TLS: p.proxyMat,
		Overload: core.OverloadConfig{Disabled: true}, HopTimeout: time.Minute,
		Internal: []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}}}
	h.p.Store(fed{
		domains: []api.FederatedDomain{{Domain: partnerDomain}},
		routes:  []api.StaticRoute{route(partnerDomain, hole.LocalAddr().String(), "udp", 1)},
	}.snapshot())
	for range b.N {
		r, err := New(cfg, h, testDNS(b))
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = r.Run(b.Context()); close(done) }()
		conn, err := net.Dial("udp", listenerAddr(r.InternalAddrs(), "udp"))
		if err != nil {
			b.Fatal(err)
		}
		local := conn.LocalAddr().String()
		// One transaction first, so that what exists once (the socket the relay sends from,
		// its buffers) is in the baseline.
		_, _ = conn.Write([]byte(benchMessage("udp", local, "alice@"+localDomain, "bob@"+partnerDomain, -1)))
		for j := 0; r.Core().InFlight() < 1 && j < 1000; j++ {
			time.Sleep(time.Millisecond)
		}
		heap0, rss0 := settledMemory()
		size := 0
		for i := 0; i < n; i++ {
			msg := benchMessage("udp", local, "alice@"+localDomain, "bob@"+partnerDomain, i)
			size = len(msg)
			_, _ = conn.Write([]byte(msg))
			// Paced so that no datagram is lost to a full socket buffer.
			for j := 0; r.Core().InFlight() < int64(i+2)-256 && j < 1000; j++ {
				time.Sleep(100 * time.Microsecond)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for r.Core().InFlight() < n+1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := r.Core().InFlight(); got != n+1 {
			b.Fatalf("%d transactions live, want %d", got, n+1)
		}
		heap1, rss1 := settledMemory()
		if f := os.Getenv("SIPFED_HEAP_PROFILE"); f != "" {
			writeHeapProfile(b, f)
		}
		b.ReportMetric(float64(heap1-heap0)/n, "heap-B/tx")
		b.ReportMetric(float64(rss1-rss0)/n, "rss-B/tx")
		b.ReportMetric(float64(size), "msg-B")
		conn.Close()
		r.Close()
		<-done
	}
}

// settledMemory is the live heap after a collection and the resident set, in bytes.
func settledMemory() (heap, rss int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/statm")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	return int64(ms.HeapAlloc), rss
}

func writeHeapProfile(b *testing.B, name string) {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
