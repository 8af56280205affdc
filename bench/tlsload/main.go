// Command tlsload drives SIP MESSAGE load over TLS (Debian's sipp has none) through sipfed-proxy,
// on sipgo:
//
//	tlsload pki -dir DIR         write a test CA and the proxy's, a partner's and an internal
//	                             server's certificates (internal/testpki)
//	tlsload uas -listen ADDR ... answer every request with 200 (a partner edge or the internal
//	                             next hop)
//	tlsload uac -target ADDR ... send MESSAGEs at a fixed rate for a duration and print a JSON
//	                             summary: sent, 200s, failures, unanswered, later than 1 s, 503s,
//	                             goodput, p50, p99
//
// Branches and Call-IDs carry a prefix unique per process (pid and random bits) and, in the
// branch, the connection: several tlsload processes and connections never reuse one. Answers
// are matched by Call-ID whichever connection they arrive on, including connections the proxy
// opens itself toward the address in our Via (-listen).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlsload pki|uas|uac [flags]")
		os.Exit(2)
	}
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4})))
	var err error
	switch os.Args[1] {
	case "pki":
		err = pki(os.Args[2:])
	case "uas":
		err = uas(os.Args[2:])
	case "uac":
		err = uac(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsload:", err)
		os.Exit(1)
	}
}

func pki(args []string) error {
	fs := flag.NewFlagSet("pki", flag.ExitOnError)
	dir := fs.String("dir", ".", "output directory")
	_ = fs.Parse(args)
	ca, err := testpki.NewCA("sipfed bench CA")
	if err != nil {
		return err
	}
	loop := []net.IP{net.IPv4(127, 0, 0, 1)}
	for name, o := range map[string]testpki.LeafOptions{
		"proxy":    {CN: "fed.example.com", DNS: []string{"fed.example.com", "imp1.example.com"}, IPs: loop},
		"partner":  {CN: "edge.partner.example", DNS: []string{"edge.partner.example"}, IPs: loop},
		"internal": {CN: "pres.example.com", DNS: []string{"pres.example.com"}, IPs: loop},
	} {
		leaf, err := ca.Issue(o)
		if err != nil {
			return err
		}
		if _, err := leaf.WriteFiles(*dir, name, ca); err != nil {
			return err
		}
	}
	return os.WriteFile(*dir+"/ca.crt", ca.CertPEM, 0o644)
}

// profileFlag registers -cpuprofile; call the returned function after parsing, and the function it
// returns when done.
func profileFlag(fs *flag.FlagSet) func() func() {
	path := fs.String("cpuprofile", "", "write a CPU profile of this process here")
	return func() func() {
		if *path == "" {
			return func() {}
		}
		f, err := os.Create(*path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tlsload:", err)
			return func() {}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "tlsload:", err)
			return func() {}
		}
		return func() { pprof.StopCPUProfile(); f.Close() }
	}
}

type tlsFlags struct{ cert, key, ca string }

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "cert", "", "PEM certificate to present")
	fs.StringVar(&f.key, "key", "", "PEM key")
	fs.StringVar(&f.ca, "ca", "", "PEM CA bundle to verify the peer against")
}

func (f *tlsFlags) config(server bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	if server {
		return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}, nil
	}
	return &tls.Config{
		RootCAs:              pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}, nil
}

func uas(args []string) error {
	fs := flag.NewFlagSet("uas", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:5090", "TLS listen address")
	mode := fs.String("mode", "raw", "raw: sipgo's parser and responses on the connection; tx: a sipgo server with transactions")
	var tf tlsFlags
	tf.register(fs)
	prof := profileFlag(fs)
	_ = fs.Parse(args)
	defer prof()()
	cfg, err := tf.config(true)
	if err != nil {
		return err
	}
	if *mode == "raw" {
		return rawUAS(*listen, cfg)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tlsload-uas"))
	if err != nil {
		return err
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return err
	}
	srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		if req.IsAck() {
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := tls.Listen("tcp", *listen, cfg)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	err = srv.ServeTLS(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type summary struct {
	Rate         int           `json:"rate"`
	Seconds      float64       `json:"seconds"`               // the sending window
	CPUSeconds   float64       `json:"cpu_seconds,omitempty"` // this process's CPU time in the window (raw mode)
	Sent         int64         `json:"sent"`
	Achieved     float64       `json:"achieved"` // sent per second of the sending window
	OK           int64         `json:"ok"`       // 200s, late ones included
	Failed       int64         `json:"failed"`   // other final responses (see codes) and errors
	Unanswered   int64         `json:"unanswered"`
	Late         int64         `json:"late"` // 200s later than 1 s
	BadPercent   float64       `json:"bad_percent"`
	ShedPercent  float64       `json:"shed_percent"` // 503s
	Goodput      float64       `json:"goodput"`      // 200s within 1 s, per second of the window
	P50ms        float64       `json:"p50_ms"`
	P99ms        float64       `json:"p99_ms"`
	Codes        map[int]int64 `json:"codes,omitempty"`
	Conns        int           `json:"conns,omitempty"`         // connections opened to the target
	InboundConns int           `json:"inbound_conns,omitempty"` // connections the target opened to us
	TLS          []string      `json:"tls,omitempty"`           // negotiated version and cipher per connection
	Prefix       string        `json:"prefix,omitempty"`        // this process's branch and Call-ID prefix
	Error        string        `json:"error,omitempty"`
}

func uac(args []string) error {
	fs := flag.NewFlagSet("uac", flag.ExitOnError)
	target := fs.String("target", "127.0.0.1:5061", "proxy TLS listener")
	rate := fs.Int("rate", 1000, "MESSAGEs per second")
	dur := fs.Duration("duration", 15*time.Second, "how long to send")
	from := fs.String("from", "bob@partner.example", "From user@domain")
	to := fs.String("to", "alice@example.com", "Request-URI and To user@domain")
	mode := fs.String("mode", "raw", "raw: sipgo's messages and parser, pipelined over -conns connections; tx: a sipgo client transaction per request")
	conns := fs.Int("conns", 1, "raw: connections to the target; requests go round-robin over them")
	listen := fs.String("listen", "127.0.0.1:0", "raw: also accept TLS connections here and name this address in the Via, for a proxy that answers over a connection of its own (\"\": none; the Via names each connection's address)")
	drain := fs.Duration("drain", 3*time.Second, "raw: how long to wait for the last answers")
	var tf tlsFlags
	tf.register(fs)
	prof := profileFlag(fs)
	_ = fs.Parse(args)
	defer prof()()
	cfg, err := tf.config(false)
	if err != nil {
		return err
	}
	if *mode == "raw" {
		scfg, err := tf.config(true)
		if err != nil {
			return err
		}
		return rawUAC(uacOptions{target: *target, conns: *conns, listen: *listen, rate: *rate, dur: *dur, drain: *drain, from: *from, to: *to}, cfg, scfg)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tlsload-uac"), sipgo.WithUserAgenTLSConfig(cfg))
	if err != nil {
		return err
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua)
	if err != nil {
		return err
	}
	var toURI, fromURI sip.Uri
	if err := sip.ParseUri("sip:"+*to, &toURI); err != nil {
		return err
	}
	if err := sip.ParseUri("sip:"+*from, &fromURI); err != nil {
		return err
	}
	newReq := func() *sip.Request {
		req := sip.NewRequest(sip.MESSAGE, toURI)
		fh := &sip.FromHeader{Address: fromURI, Params: sip.NewParams()}
		fh.Params.Add("tag", sip.GenerateTagN(8))
		req.AppendHeader(fh)
		req.AppendHeader(&sip.ToHeader{Address: toURI})
		req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
		req.SetBody([]byte("hello over TLS"))
		req.SetTransport("TLS")
		req.SetDestination(*target)
		return req
	}
	// Warm the connection up (handshake) before the clock starts.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	res, err := client.Do(ctx, newReq())
	cancel()
	if err != nil {
		return fmt.Errorf("first request: %w", err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("first request answered %d", res.StatusCode)
	}

	var (
		s         = summary{Rate: *rate, Codes: map[int]int64{}}
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, *rate*int(dur.Seconds()+1))
		wg        sync.WaitGroup
		sent      atomic.Int64
	)
	one := func() {
		defer wg.Done()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := client.Do(ctx, newReq())
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sip.ErrTransactionTimeout):
			s.Unanswered++
		case err != nil:
			s.Failed++
		case res.StatusCode != 200:
			s.Failed++
			s.Codes[res.StatusCode]++
		default:
			s.OK++
			if d > time.Second {
				s.Late++
			}
			latencies = append(latencies, d)
		}
	}
	// Pace per millisecond, catching up on what the scheduler delayed, so that the offered
	// rate is the asked rate even when the generator lags.
	begin := time.Now()
	tick := time.NewTicker(time.Millisecond)
	for now := range tick.C {
		el := now.Sub(begin)
		if el >= *dur {
			break
		}
		due := int64(float64(*rate) * el.Seconds())
		for sent.Load() < due {
			sent.Add(1)
			wg.Add(1)
			go one()
		}
	}
	tick.Stop()
	s.Seconds = time.Since(begin).Seconds()
	wg.Wait()
	s.Sent = sent.Load()
	s.finish(latencies)
	return json.NewEncoder(os.Stdout).Encode(s)
}
