package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The raw modes leave out sipgo's transaction layer (a goroutine and timers per request) and its
// parser (see lean.go): at 14,000 requests/s on the one core the load has, the generator must
// cost much less than the proxy it measures.

// uasStats is what the raw UAS prints when it stops: how many connections the proxy opened to it
// and how many requests came over them (the same load must give the same count for every proxy).
type uasStats struct {
	Conns    int64 `json:"conns"`
	Requests int64 `json:"requests"`
}

func rawUAS(listen string, cfg *tls.Config) error {
	ln, err := tls.Listen("tcp", listen, cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	var st struct{ conns, requests atomic.Int64 }
	tag := newPrefix()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return json.NewEncoder(os.Stdout).Encode(uasStats{Conns: st.conns.Load(), Requests: st.requests.Load()})
			}
			return err
		}
		st.conns.Add(1)
		go serveRaw(c, tag, &st.requests)
	}
}

// serveRaw answers every request that comes over c with 200, on c itself (RFC 3261 18.2.2: a
// proxy may open its own connection toward us, and reads the answer on that connection).
func serveRaw(c net.Conn, tag string, requests *atomic.Int64) {
	defer c.Close()
	buf := make([]byte, 0, 128<<10)
	out := make([]byte, 0, 64<<10)
	for {
		if cap(buf)-len(buf) < 16<<10 {
			buf = append(make([]byte, 0, 2*cap(buf)), buf...)
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			return
		}
		buf = buf[:len(buf)+n]
		rest := buf
		for {
			rest = skipCRLF(rest)
			m, ok := frame(rest)
			if !ok {
				return
			}
			if m == 0 {
				break
			}
			before := len(out)
			out = answer200(out, rest[:m], tag)
			if len(out) > before {
				requests.Add(1)
			}
			rest = rest[m:]
		}
		buf = append(buf[:0], rest...)
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
	}
}

// newPrefix is unique per process: the pid and 48 random bits. Branches and Call-IDs of
// several tlsload processes never collide.
func newPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(int64(os.Getpid()), 36) + hex.EncodeToString(b[:])
}

type uacOptions struct {
	target   string
	conns    int
	listen   string // "" : no listener; the Via names each connection's own address
	rate     int
	dur      time.Duration
	drain    time.Duration
	from, to string
}

// uacRun is one raw UAC run: requests are numbered 0..n-1 across all its connections, and an
// answer is matched by its Call-ID (tl-PREFIX-N) whichever connection it arrives on.
type uacRun struct {
	prefix   string
	begin    time.Time
	sentAt   []atomic.Int64 // ns since begin, +1 (0: not sent yet)
	answered []atomic.Bool
	nAnswer  atomic.Int64

	mu        sync.Mutex
	s         summary
	latencies []time.Duration
}

// indexOf is the request number in a Call-ID of ours (tl-PREFIX-N).
func (r *uacRun) indexOf(cid []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(cid, []byte("tl-"))
	if !ok {
		return 0, false
	}
	rest, ok = bytes.CutPrefix(rest, []byte(r.prefix))
	if !ok || len(rest) < 2 || rest[0] != '-' {
		return 0, false
	}
	i := 0
	for _, c := range rest[1:] {
		if c < '0' || c > '9' || i > len(r.sentAt) {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, i < len(r.sentAt)
}

func (r *uacRun) onResponse(code, i int, at time.Duration) {
	sent := r.sentAt[i].Load()
	if sent == 0 || !r.answered[i].CompareAndSwap(false, true) {
		return // not ours yet, or a retransmitted answer
	}
	r.nAnswer.Add(1)
	d := at - time.Duration(sent-1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if code != 200 {
		r.s.Failed++
		r.s.Codes[code]++
		return
	}
	r.s.OK++
	if d >= time.Second {
		r.s.Late++
	}
	r.latencies = append(r.latencies, d)
}

// read frames everything that comes over c and hands final responses to onResponse.
func (r *uacRun) read(c net.Conn) {
	buf := make([]byte, 0, 128<<10)
	for {
		if cap(buf)-len(buf) < 16<<10 {
			buf = append(make([]byte, 0, 2*cap(buf)), buf...)
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			return
		}
		at := time.Since(r.begin)
		buf = buf[:len(buf)+n]
		rest := buf
		for {
			rest = skipCRLF(rest)
			m, ok := frame(rest)
			if !ok {
				return
			}
			if m == 0 {
				break
			}
			msg := rest[:m]
			rest = rest[m:]
			code, isRes := isResponse(msg)
			if !isRes || code < 200 {
				continue
			}
			if i, ok := r.indexOf(callID(msg)); ok {
				r.onResponse(code, i, at)
			}
		}
		buf = append(buf[:0], rest...)
	}
}

func tlsName(st tls.ConnectionState) string {
	return tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
}

func rawUAC(o uacOptions, clientCfg, serverCfg *tls.Config) error {
	if o.conns < 1 {
		o.conns = 1
	}
	total := o.rate*int(o.dur.Seconds()+1) + 1
	r := &uacRun{
		prefix:   newPrefix(),
		begin:    time.Now(),
		sentAt:   make([]atomic.Int64, total),
		answered: make([]atomic.Bool, total),
		s:        summary{Rate: o.rate, Codes: map[int]int64{}, Conns: o.conns},
	}
	r.s.Prefix = r.prefix

	var (
		readers sync.WaitGroup
		connMu  sync.Mutex
		open    []net.Conn
	)
	track := func(c net.Conn) {
		connMu.Lock()
		open = append(open, c)
		connMu.Unlock()
		readers.Add(1)
		go func() { defer readers.Done(); r.read(c) }()
	}

	// A proxy may answer over a connection of its own to the address in our Via: listen there.
	var ln net.Listener
	if o.listen != "" {
		var err error
		if ln, err = tls.Listen("tcp", o.listen, serverCfg); err != nil {
			return err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				r.mu.Lock()
				r.s.InboundConns++
				r.mu.Unlock()
				track(c)
			}
		}()
	}

	type out struct {
		c          *tls.Conn
		bw         *bufio.Writer
		via        string // host:port
		dirty      bool
		connection string
	}
	outs := make([]*out, o.conns)
	for k := range outs {
		c, err := tls.Dial("tcp", o.target, clientCfg)
		if err != nil {
			return fmt.Errorf("connection %d: %w", k, err)
		}
		via := c.LocalAddr().String()
		if ln != nil {
			via = ln.Addr().String()
		}
		outs[k] = &out{c: c, bw: bufio.NewWriterSize(c, 64<<10), via: via, connection: strconv.Itoa(k)}
		r.s.TLS = append(r.s.TLS, tlsName(c.ConnectionState()))
		track(c)
	}

	var b []byte
	write := func(i int) {
		w := outs[i%len(outs)]
		b = appendMessage(b[:0], o.from, o.to, w.via, r.prefix, w.connection, i)
		r.sentAt[i].Store(int64(time.Since(r.begin)) + 1)
		_, _ = w.bw.Write(b)
		w.dirty = true
	}
	// Pace per millisecond, catching up on what the scheduler delayed, so that the offered rate
	// is the asked rate even when the generator lags; requests go round-robin over the
	// connections. A proxy that stops reading blocks the writes: the rate is then not achieved.
	sent := 0
	cpu0 := cpuTime()
	start := time.Now()
	// A proxy that stops reading must not hang the run: writes give up past the window.
	for _, w := range outs {
		_ = w.c.SetWriteDeadline(start.Add(o.dur + 2*time.Second))
	}
	tick := time.NewTicker(time.Millisecond)
	var werr error
	for now := range tick.C {
		el := now.Sub(start)
		if el >= o.dur {
			break
		}
		due := int(float64(o.rate) * el.Seconds())
		for sent < due && sent < total {
			write(sent)
			sent++
		}
		for _, w := range outs {
			if w.dirty {
				w.dirty = false
				if err := w.bw.Flush(); err != nil && werr == nil {
					werr = err
				}
			}
		}
		if werr != nil {
			break
		}
	}
	tick.Stop()
	seconds := time.Since(start).Seconds()
	cpuSeconds := (cpuTime() - cpu0).Seconds()
	// Let the last answers come in (anything later than a second is late anyway).
	deadline := time.Now().Add(o.drain)
	for time.Now().Before(deadline) && r.nAnswer.Load() < int64(sent) {
		time.Sleep(10 * time.Millisecond)
	}
	if ln != nil {
		ln.Close()
	}
	connMu.Lock()
	for _, c := range open {
		c.Close()
	}
	connMu.Unlock()
	readers.Wait()

	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.s
	s.Seconds = seconds
	s.CPUSeconds = cpuSeconds
	s.Sent = int64(sent)
	s.Unanswered = s.Sent - s.OK - s.Failed
	if werr != nil {
		s.Error = werr.Error()
	}
	s.finish(r.latencies)
	return json.NewEncoder(os.Stdout).Encode(s)
}

// cpuTime is the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// appendMessage appends request number i of a run to b: a MESSAGE from `from` to `to`, with a
// branch unique per process (prefix), connection and request, and a Call-ID unique per process
// and request; the same bytes sipgo would write for it.
func appendMessage(b []byte, from, to, via, prefix, conn string, i int) []byte {
	const body = "hello over TLS"
	b = append(b, "MESSAGE sip:"...)
	b = append(b, to...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/TLS "...)
	b = append(b, via...)
	b = append(b, ";branch=z9hG4bK-tl-"...)
	b = append(b, prefix...)
	b = append(b, '-')
	b = append(b, conn...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, "\r\nFrom: <sip:"...)
	b = append(b, from...)
	b = append(b, ">;tag="...)
	b = append(b, prefix...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, "\r\nTo: <sip:"...)
	b = append(b, to...)
	b = append(b, ">\r\nCall-ID: tl-"...)
	b = append(b, prefix...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, "\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	return append(b, "\r\n\r\n"+body...)
}

// finish fills in the derived fields: bad share, goodput, percentiles.
func (s *summary) finish(latencies []time.Duration) {
	if s.Sent > 0 {
		s.BadPercent = 100 * float64(s.Failed+s.Unanswered+s.Late) / float64(s.Sent)
		s.ShedPercent = 100 * float64(s.Codes[503]) / float64(s.Sent)
	}
	if s.Seconds > 0 {
		s.Achieved = float64(s.Sent) / s.Seconds
		s.Goodput = float64(s.OK-s.Late) / s.Seconds
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		s.P50ms = float64(latencies[n/2].Microseconds()) / 1000
		s.P99ms = float64(latencies[n*99/100].Microseconds()) / 1000
	}
}
