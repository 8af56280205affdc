package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The raw modes keep sipgo's message building and stream parser but leave out its transaction
// layer, a goroutine and timers per request: at 14,000 requests/s on the one core the load has,
// the generator must cost much less than the proxy it measures.

func rawUAS(listen string, cfg *tls.Config) error {
	ln, err := tls.Listen("tcp", listen, cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go serveRaw(c)
	}
}

func serveRaw(c net.Conn) {
	defer c.Close()
	par := sip.NewParser().NewSIPStream()
	bw := bufio.NewWriterSize(c, 64<<10)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		err = par.ParseSIPStream(buf[:n], func(m sip.Message) {
			req, ok := m.(*sip.Request)
			if !ok || req.IsAck() {
				return
			}
			sip.NewResponseFromRequest(req, 200, "OK", nil).StringWrite(bw)
		})
		if err != nil && !errors.Is(err, sip.ErrParseSipPartial) {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

func rawUAC(target string, cfg *tls.Config, rate int, dur time.Duration, from, to string) error {
	conn, err := tls.Dial("tcp", target, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	var toURI, fromURI sip.Uri
	if err := sip.ParseUri("sip:"+to, &toURI); err != nil {
		return err
	}
	if err := sip.ParseUri("sip:"+from, &fromURI); err != nil {
		return err
	}
	local := conn.LocalAddr().String()
	host, port, _ := sip.ParseAddr(local)
	total := rate*int(dur.Seconds()+1) + 1
	sentAt := make([]time.Time, total)
	got := make([]bool, total)
	var mu sync.Mutex
	s := summary{Rate: rate, Codes: map[int]int64{}}
	var latencies []time.Duration

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		par := sip.NewParser().NewSIPStream()
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			perr := par.ParseSIPStream(buf[:n], func(m sip.Message) {
				res, ok := m.(*sip.Response)
				if !ok || res.IsProvisional() {
					return
				}
				cid := res.CallID()
				if cid == nil {
					return
				}
				i, err := strconv.Atoi(strings.TrimPrefix(string(*cid), "tl-"))
				if err != nil || i < 0 || i >= total {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if got[i] {
					return
				}
				got[i] = true
				d := now.Sub(sentAt[i])
				if res.StatusCode != 200 {
					s.Failed++
					s.Codes[res.StatusCode]++
					return
				}
				s.OK++
				if d > time.Second {
					s.Late++
				}
				latencies = append(latencies, d)
			})
			if perr != nil && !errors.Is(perr, sip.ErrParseSipPartial) {
				return
			}
		}
	}()

	bw := bufio.NewWriterSize(conn, 64<<10)
	body := []byte("hello over TLS")
	write := func(i int) {
		req := sip.NewRequest(sip.MESSAGE, toURI)
		via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "TLS", Host: host, Port: port, Params: sip.NewParams()}
		via.Params.Add("branch", "z9hG4bK-tl-"+strconv.Itoa(i))
		req.AppendHeader(via)
		fh := &sip.FromHeader{Address: fromURI, Params: sip.NewParams()}
		fh.Params.Add("tag", strconv.Itoa(i))
		req.AppendHeader(fh)
		req.AppendHeader(&sip.ToHeader{Address: toURI})
		cid := sip.CallIDHeader("tl-" + strconv.Itoa(i))
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.MESSAGE})
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
		req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
		req.SetBody(body)
		mu.Lock()
		sentAt[i] = time.Now()
		mu.Unlock()
		req.StringWrite(bw)
	}
	// Pace per millisecond, catching up on what the scheduler delayed, so that the offered rate
	// is the asked rate even when the generator lags.
	sent := 0
	begin := time.Now()
	tick := time.NewTicker(time.Millisecond)
	for now := range tick.C {
		el := now.Sub(begin)
		if el >= dur {
			break
		}
		due := int(float64(rate) * el.Seconds())
		for sent < due && sent < total {
			write(sent)
			sent++
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	tick.Stop()
	s.Seconds = time.Since(begin).Seconds()
	// Let the last answers come in (anything later than a second is late anyway).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := s.OK+s.Failed == int64(sent)
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Close()
	<-readerDone
	mu.Lock()
	defer mu.Unlock()
	s.Sent = int64(sent)
	s.Unanswered = s.Sent - s.OK - s.Failed
	if s.Sent > 0 {
		s.BadPercent = 100 * float64(s.Failed+s.Unanswered+s.Late) / float64(s.Sent)
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		s.P50ms = float64(latencies[n/2].Microseconds()) / 1000
		s.P99ms = float64(latencies[n*99/100].Microseconds()) / 1000
	}
	return json.NewEncoder(os.Stdout).Encode(s)
}
