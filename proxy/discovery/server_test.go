package discovery

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/dnstest"
)

// answer is what the test server says to one question ("TYPE name.").
type answer struct {
	rcode       int
	answer      []string // zone-file records
	extra       []string
	ns          []string
	delay       time.Duration // sleep before answering: a slow server
	truncateUDP bool          // over UDP, answer with TC and no records; the full answer over TCP
}

// testServer is a real miekg/dns server on 127.0.0.1, UDP and TCP on one port, that counts the
// queries it receives. Unknown questions get NXDOMAIN without SOA.
type testServer struct {
	Addr string
	zone map[string]answer

	mu      sync.Mutex
	queries map[string]int // "udp SRV name." -> count
}

func startServer(t testing.TB, zone map[string]answer) *testServer {
	t.Helper()
	s := &testServer{zone: map[string]answer{}, queries: map[string]int{}}
	for k, v := range zone {
		typ, name, _ := strings.Cut(k, " ")
		s.zone[typ+" "+dns.Fqdn(strings.ToLower(name))] = v
	}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 { // the UDP port's TCP twin may be taken: try another port
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no UDP+TCP port pair on 127.0.0.1")
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	dnstest.Start(t, &dns.Server{PacketConn: pc, Handler: h})
	dnstest.Start(t, &dns.Server{Listener: ln, Handler: h})
	return s
}

func (s *testServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	network := "tcp"
	if _, ok := w.LocalAddr().(*net.UDPAddr); ok {
		network = "udp"
	}
	q := r.Question[0]
	key := dns.TypeToString[q.Qtype] + " " + strings.ToLower(q.Name)
	s.mu.Lock()
	s.queries[network+" "+key]++
	s.mu.Unlock()

	a, ok := s.zone[key]
	if !ok {
		a = answer{rcode: dns.RcodeNameError}
	}
	time.Sleep(a.delay)
	m := new(dns.Msg)
	m.SetReply(r)
	m.Rcode = a.rcode
	if network == "udp" && a.truncateUDP {
		m.Truncated = true
	} else {
		m.Answer, m.Extra, m.Ns = rrs(a.answer), rrs(a.extra), rrs(a.ns)
	}
	_ = w.WriteMsg(m)
}

// Queries returns how many queries for "TYPE name" arrived over network ("udp", "tcp"; "" both).
func (s *testServer) Queries(network, question string) int {
	typ, name, _ := strings.Cut(question, " ")
	key := typ + " " + dns.Fqdn(strings.ToLower(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	if network != "" {
		return s.queries[network+" "+key]
	}
	return s.queries["udp "+key] + s.queries["tcp "+key]
}

// Total returns the number of queries received.
func (s *testServer) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}

func rrs(lines []string) []dns.RR {
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			panic(fmt.Sprintf("bad test record %q: %v", l, err))
		}
		out = append(out, rr)
	}
	return out
}

// clock is the cache's clock in tests: time moves only when the test says.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
