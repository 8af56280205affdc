// Package edgetest tries the federation edge as the world will: two whole sipfed sites
// federating with each other over mutual TLS, sipp as each site's users and servers, a partner
// with a valid certificate trying header tricks, hostile connections, and the RFC 4475 torture
// messages, all on loopback.
package edgetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/dnstest"
	"github.com/sipfed/terraform-provider-sip/internal/sipptest"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// zone is a DNS server on loopback that answers A and SRV questions from a map the test fills.
type zone struct {
	Addr string
	mu   sync.Mutex
	a    map[string]string // name. -> IPv4
	srv  map[string]string // _sipfederationtls._tcp.domain. -> "target. port"
}

func startZone(t *testing.T) *zone {
	t.Helper()
	z := &zone{a: map[string]string{}, srv: map[string]string{}}
	z.Addr = dnstest.ServeUDP(t, dns.HandlerFunc(z.serve))
	return z
}

func (z *zone) setA(name, ip string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.a[dns.Fqdn(name)] = ip
}

func (z *zone) setSRV(domain, target string, port int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.srv["_sipfederationtls._tcp."+dns.Fqdn(domain)] = dns.Fqdn(target) + " " + strconv.Itoa(port)
}

func (z *zone) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	z.mu.Lock()
	defer z.mu.Unlock()
	switch q.Qtype {
	case dns.TypeA:
		if ip, ok := z.a[name]; ok {
			rr, _ := dns.NewRR(name + " 60 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
	case dns.TypeSRV:
		if v, ok := z.srv[name]; ok {
			target, port, _ := strings.Cut(v, " ")
			rr, _ := dns.NewRR(name + " 60 IN SRV 10 10 " + port + " " + target)
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Answer) == 0 {
		if _, ok := z.a[name]; !ok {
			if _, ok := z.srv[name]; !ok {
				m.Rcode = dns.RcodeNameError
			}
		}
	}
	_ = w.WriteMsg(m)
}

// site is one enterprise: its domain, its CA and proxy certificate, its sipfed proxy, and the
// loopback address its own servers live on.
type site struct {
	name   string
	domain string // the local domain
	fqdn   string // the federation routing FQDN
	ip     string // the proxy's listeners
	hostIP string // the site's own servers (sipp)
	ca     *testpki.CA
	leaf   *testpki.Leaf
	proxy  *servertest.Proxy
	// nextHop is the port of the site's internal next hop on hostIP: its users and servers,
	// reached over transport.
	nextHop   int
	transport string
}

func newSite(t *testing.T, name, domain, ip, hostIP, transport string) *site {
	t.Helper()
	s := &site{name: name, domain: domain, fqdn: "fed." + domain, ip: ip, hostIP: hostIP, transport: transport}
	s.ca = testpki.MustCA(name + " CA")
	s.leaf = s.ca.MustIssue(testpki.LeafOptions{CN: s.fqdn, DNS: []string{s.fqdn}, IPs: []net.IP{net.ParseIP(ip)}})
	s.nextHop = sipptest.FreePort(t, hostIP)
	return s
}

// start runs the site's proxy, trusting the partners' CAs, with DNS from z.
func (s *site) start(t *testing.T, z *zone, partners ...*site) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, p := range partners {
		pool.AddCert(p.ca.Cert)
	}
	mat, err := identity.New(s.leaf.TLSCertificate(), pool, "", "")
	if err != nil {
		t.Fatal(err)
	}
	nh, err := relay.ParseNextHop("sip:" + net.JoinHostPort(s.hostIP, strconv.Itoa(s.nextHop)) + ";transport=" + s.transport)
	if err != nil {
		t.Fatal(err)
	}
	// The proxy's log is kept, and shown when the test fails: sipp's side alone does not say
	// why a proxy answered as it did.
	logs := &syncBuffer{}
	s.proxy = servertest.Start(t,
		servertest.WithLog(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		servertest.WithRouting(routing.Options{NodeFQDN: "node1." + s.domain, LocalDomains: []string{s.domain}}),
		servertest.WithDNS(z.Addr),
		servertest.WithSIP(relay.Config{
			Internal:        []relay.Listener{{Transport: "udp", Addr: s.ip + ":0"}, {Transport: "tcp", Addr: s.ip + ":0"}},
			External:        []relay.Listener{{Transport: "tls", Addr: s.ip + ":0"}},
			InternalNextHop: nh,
			TLS:             mat,
			HopTimeout:      3 * time.Second,
		}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's proxy log (its last %d KiB):\n%s", s.name, logTail>>10, lastBytes(logs.String(), logTail))
		}
	})
	ctx := context.Background()
	c := s.proxy.Client
	if _, _, err := c.SetFederationRoutingFQDN(ctx, s.fqdn, ""); err != nil {
		t.Fatal(err)
	}
	z.setA(s.fqdn, s.ip)
	z.setSRV(s.domain, s.fqdn, s.externalPort())
	for _, p := range partners {
		if _, _, err := c.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: p.fqdn}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: p.domain, PeerSubjects: []string{p.fqdn}}); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *site) internal(transport string) string {
	for _, l := range s.proxy.Relay().InternalAddrs() {
		if l.Transport == transport {
			return l.Addr
		}
	}
	return ""
}

func (s *site) externalPort() int {
	return int(s.proxy.Relay().ExternalAddrs()[0].AddrPort().Port())
}

// logTail is how much of a proxy's log a failed test shows.
const logTail = 64 << 10

// lastBytes is the end of s, at most n bytes of it, from the start of a line.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// scenario renders testdata/sipp/name with vars into dir.
func scenario(t *testing.T, dir, name string, vars any) string {
	t.Helper()
	tpl, err := template.ParseFiles(filepath.Join("testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// bothPass waits for every sipp and fails the test, with their logs, unless every call of each
// succeeded.
func bothPass(t *testing.T, ps ...*sipptest.Process) {
	t.Helper()
	failed := false
	for _, p := range ps {
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			t.Errorf("sipp %s did not finish", p.Name)
			failed = true
			continue
		}
		if code := p.ExitCode(); code != 0 {
			failed = true
			t.Errorf("sipp %s exited %d\nerrors:\n%s\nmessages:\n%s\noutput:\n%s", p.Name, code, p.Errors(), p.Messages(), p.Output())
		}
	}
	if failed {
		t.FailNow()
	}
	if os.Getenv("SIPFED_TEST_SIPP_LOG") != "" {
		for _, p := range ps {
			t.Logf("sipp %s messages:\n%s", p.Name, p.Messages())
		}
	}
}

// mutualTLS is a client configuration presenting leaf and trusting ca.
func mutualTLS(leaf *testpki.Leaf, ca *testpki.CA) *tls.Config {
	cert := leaf.TLSCertificate()
	return &tls.Config{
		RootCAs:              ca.Pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}
}

var _ = fmt.Sprint
