// Command ua holds the demo's own stand-ins, so that `make demo` needs nothing but Go and
// Terraform: certificates, a partner edge, an enterprise user agent and a DNS server.
//
//	ua certs -dir DIR                      CA, proxy and partner edge certificates
//	ua edge -listen ADDR -name NAME ...    a partner edge: mutual TLS, answers MESSAGE with 200
//	ua send -proxy ADDR -from URI -to URI  sends one MESSAGE and prints the response
//	ua dns -listen ADDR -srv NAME=TARGET:PORT -a NAME=IP   an authoritative stand-in for DNS
//	ua freeport                            prints a free loopback TCP port
//	ua wait -url URL                       waits until URL answers 200
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ua certs|edge|send|dns|freeport [flags]")
		os.Exit(2)
	}
	// sipgo logs every transport event at debug; the demo's output is what it prints itself.
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "certs":
		err = certs(args)
	case "edge":
		err = edge(args)
	case "send":
		err = send(args)
	case "dns":
		err = serveDNS(args)
	case "freeport":
		err = freePort()
	case "wait":
		err = wait(args)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ua %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// certs writes a demo CA, the proxy's certificate and a partner edge's certificate.
func certs(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	dir := fs.String("dir", ".demo/pki", "output directory")
	proxyNames := fs.String("proxy", "imp1.example.com,imp-public.example.com", "DNS names of the proxy")
	edgeNames := fs.String("edge", "edge.hosted-partner.example", "DNS names of the partner edge")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	ca, err := testpki.NewCA("sipfed demo CA")
	if err != nil {
		return err
	}
	for prefix, names := range map[string]string{"proxy": *proxyNames, "edge": *edgeNames} {
		dnsNames := strings.Split(names, ",")
		leaf, err := ca.Issue(testpki.LeafOptions{CN: dnsNames[0], DNS: dnsNames, Key: testpki.RSA})
		if err != nil {
			return err
		}
		if _, err := leaf.WriteFiles(*dir, prefix, ca); err != nil {
			return err
		}
	}
	return nil
}

func loadTLS(certFile, keyFile, caFile string) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return cert, nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return cert, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return cert, nil, errors.New("no CA certificate in " + caFile)
	}
	return cert, pool, nil
}

// edge is the stand-in for a partner's federation edge: it requires a client certificate from
// the demo CA, as a real edge would, and answers every MESSAGE with 200.
func edge(args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5081", "TLS listen address")
	name := fs.String("name", "edge.hosted-partner.example", "the edge's name, for its output")
	certFile := fs.String("cert", ".demo/pki/edge.crt", "certificate")
	keyFile := fs.String("key", ".demo/pki/edge.key", "key")
	caFile := fs.String("ca", ".demo/pki/edge-ca.crt", "CA bundle client certificates must chain to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cert, pool, err := loadTLS(*certFile, *keyFile, *caFile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("demo-partner-edge"), sipgo.WithUserAgentHostname(*name))
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return err
	}
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		rr := "none"
		if h := req.GetHeader("Record-Route"); h != nil {
			rr = h.Value()
		}
		fmt.Printf("[partner edge %s] got %s %s from %s over %s (Record-Route: %s): %q\n",
			*name, req.Method, req.Recipient.String(), req.From().Address.String(), req.Transport(), rr, string(req.Body()))
		res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		if err := tx.Respond(res); err != nil {
			fmt.Fprintf(os.Stderr, "[partner edge] respond: %v\n", err)
		}
	})
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	fmt.Printf("[partner edge %s] listening on tls://%s (mutual TLS)\n", *name, *listen)
	err = srv.ListenAndServeTLS(ctx, "tls", *listen, conf)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// send is the enterprise user: one MESSAGE to the proxy's internal listener.
func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	proxy := fs.String("proxy", "127.0.0.1:5060", "the proxy's internal TCP listener")
	from := fs.String("from", "sip:bob@example.com", "From")
	to := fs.String("to", "sip:alice@hosted-partner.example", "Request-URI and To")
	body := fs.String("body", "Hello from sipfed", "text/plain body")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var toURI, fromURI sip.Uri
	if err := sip.ParseUri(*to, &toURI); err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	if err := sip.ParseUri(*from, &fromURI); err != nil {
		return fmt.Errorf("-from: %w", err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("demo-enterprise-user"), sipgo.WithUserAgentHostname(fromURI.Host))
	if err != nil {
		return err
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua)
	if err != nil {
		return err
	}
	req := sip.NewRequest(sip.MESSAGE, toURI)
	req.SetTransport("TCP")
	req.SetDestination(*proxy)
	fromHdr := &sip.FromHeader{Address: fromURI, Params: sip.NewParams()}
	fromHdr.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(fromHdr)
	req.AppendHeader(&sip.ToHeader{Address: toURI, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
	req.SetBody([]byte(*body))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fmt.Printf("[enterprise user] sending MESSAGE %s from %s to the proxy at tcp://%s\n", *to, *from, *proxy)
	res, err := client.Do(ctx, req)
	if err != nil {
		return err
	}
	fmt.Printf("[enterprise user] response: %d %s\n", res.StatusCode, res.Reason)
	if !res.IsSuccess() {
		if w := res.GetHeader("Warning"); w != nil {
			fmt.Printf("[enterprise user] Warning: %s\n", w.Value())
		}
		return fmt.Errorf("the MESSAGE was not delivered: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// serveDNS answers SRV and A queries from fixed records, standing in for the partners' public DNS.
func serveDNS(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5353", "UDP listen address")
	var srvs, as multiFlag
	fs.Var(&srvs, "srv", "NAME=TARGET:PORT, an SRV record (repeatable)")
	fs.Var(&as, "a", "NAME=IP, an A record (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	records := map[string][]dns.RR{}
	for _, s := range srvs {
		name, tp, ok := strings.Cut(s, "=")
		host, port, err := net.SplitHostPort(tp)
		if !ok || err != nil {
			return fmt.Errorf("-srv %q: want NAME=TARGET:PORT", s)
		}
		p, _ := strconv.Atoi(port)
		records[dns.Fqdn(name)] = append(records[dns.Fqdn(name)], &dns.SRV{
			Hdr:      dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 60},
			Priority: 10, Weight: 10, Port: uint16(p), Target: dns.Fqdn(host),
		})
	}
	for _, a := range as {
		name, ip, ok := strings.Cut(a, "=")
		if !ok || net.ParseIP(ip).To4() == nil {
			return fmt.Errorf("-a %q: want NAME=IPv4", a)
		}
		records[dns.Fqdn(name)] = append(records[dns.Fqdn(name)], &dns.A{
			Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip),
		})
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		found := false
		for _, rr := range records[strings.ToLower(q.Question[0].Name)] {
			found = true
			if rr.Header().Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		if !found {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &dns.Server{Addr: *listen, Net: "udp", Handler: handler}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown()
	}()
	fmt.Printf("[partner DNS] serving %d names on udp://%s\n", len(records), *listen)
	return srv.ListenAndServe()
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// wait polls a URL until it answers 200, for at most -timeout.
func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:7080/readyz", "URL")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(*url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within %s", *url, *timeout)
}

func freePort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	fmt.Println(port)
	return nil
}
