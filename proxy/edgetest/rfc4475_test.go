package edgetest

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

const tortureDir = "../sip/message/testdata/rfc4475"

type tortureCase struct {
	tag, kind, outcome, note string
	raw                      []byte
}

func loadTorture(t *testing.T) []tortureCase {
	t.Helper()
	f, err := os.Open(filepath.Join(tortureDir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tortureCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.SplitN(sc.Text(), "\t", 4)
		if len(cols) < 3 {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(tortureDir, cols[0]+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		c := tortureCase{tag: cols[0], kind: cols[1], outcome: cols[2], raw: raw}
		if len(cols) == 4 {
			c.note = cols[3]
		}
		out = append(out, c)
	}
	return out
}

// torturer is a proxy whose policy lets the torture messages through where their domains allow:
// From domains local, Request-URI domains federated and routed to a recording edge over UDP.
type torturer struct {
	local, federated []string
	proxy            *servertest.Proxy
	edge             *peer
}

func startTorturer(t *testing.T, local, federated []string) *torturer {
	t.Helper()
	tt := &torturer{local: local, federated: federated}
	tt.edge = startPeer(t, "udp", "127.0.0.80", nil)
	tt.edge.answer = func(r wireMsg) []string {
		switch r.method() {
		case "ACK":
			return nil
		case "INVITE":
			return []string{respond(r, 486, "Busy Here")}
		}
		return []string{respond(r, 200, "OK")}
	}
	inner := startPeer(t, "udp", "127.0.0.81", nil)
	nh, _ := relay.ParseNextHop("sip:" + inner.addr + ";transport=udp")
	tt.proxy = servertest.Start(t,
		servertest.WithRouting(routing.Options{NodeFQDN: "imp1.torture.test", LocalDomains: local}),
		servertest.WithSIP(relay.Config{Internal: []relay.Listener{{Transport: "udp", Addr: "127.0.0.82:0"}}, InternalNextHop: nh, HopTimeout: time.Second}))
	host, port, _ := strings.Cut(tt.edge.addr, ":")
	p, _ := strconv.Atoi(port)
	for _, d := range federated {
		if _, _, err := tt.proxy.Client.CreateFederatedDomain(context.Background(), api.FederatedDomain{Domain: d}); err != nil {
			t.Fatal(err)
		}
		r := api.NewStaticRoute()
		r.DestinationPattern, r.NextHop, r.NextHopPort, r.Protocol = api.DestinationPattern(d), host, p, "udp"
		if _, _, err := tt.proxy.Client.CreateStaticRoute(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return tt
}

func (tt *torturer) fits(from, ruri string) bool {
	return contains(tt.local, from) && contains(tt.federated, ruri)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var (
	reRURIHost = regexp.MustCompile(`^\S+ sips?:(?:[^@ ]*@)?([A-Za-z0-9.\-]+)`)
	reFromHost = regexp.MustCompile(`(?im)^(?:from|f)\s*:[^\r\n]*?<?sips?:(?:[^@>;]*@)?([A-Za-z0-9.\-]+)`)
)

// Every RFC 4475 torture message, sent by the enterprise's own server to the proxy's internal
// UDP listener, gets the outcome expected.tsv gives it. A valid message is forwarded, unless
// federation policy refuses what its domains are (the same domain as sender and target, a
// non-SIP From): federation is not an open relay even for well-formed requests.
func TestRFC4475ThroughTheProxy(t *testing.T) {
	cases := loadTorture(t)
	// Two proxies whose local and federated domains are complementary: each valid message
	// whose From and Request-URI domains differ fits one of them.
	a := startTorturer(t, []string{"example.net", "example.org", "ift.client.example.net"},
		[]string{"example.com", "chair-dnrc.example.com", "company.com", "registrar.example.com"})
	b := startTorturer(t, []string{"example.com"},
		[]string{"example.org", "example.net", "chair-dnrc.example.com", "company.com", "registrar.example.com"})
	for _, c := range cases {
		t.Run(c.tag, func(t *testing.T) {
			first, _, _ := strings.Cut(string(c.raw), "\r\n")
			ruri, from := "", ""
			if m := reRURIHost.FindStringSubmatch(first); m != nil {
				ruri = strings.ToLower(m[1])
			}
			if m := reFromHost.FindStringSubmatch(string(c.raw)); m != nil {
				from = strings.ToLower(m[1])
			}
			tt, want := b, c.outcome
			msg := parseWire(string(c.raw))
			inDialog := strings.Contains(msg.get("To", "t"), "tag")
			switch {
			case c.outcome != "forward":
			case inDialog && len(msg.all("Route", "")) > 0:
				// Within a dialog the route set decides, and it names a host this proxy may
				// reach only over mutual TLS to a peer subject: none here.
				want = "policy"
			case a.fits(from, ruri):
				tt = a
			case b.fits(from, ruri):
			default:
				want = "403" // see the test's comment: policy, not parsing, refuses it
			}
			cl := dial(t, "udp", tt.proxy.Relay().InternalAddrs()[0].Addr, nil, "127.0.0.83")
			tt.edge.drain()
			before := tt.edge.count()
			cl.send(t, string(c.raw))
			method, _, _ := strings.Cut(first, " ")
			switch want {
			case "forward":
				deadline := time.Now().Add(3 * time.Second)
				for {
					m, ok := tt.edge.next(t, time.Until(deadline))
					if !ok {
						res, _ := cl.read(time.Second)
						t.Fatalf("not forwarded (%s); the sender got %q", c.note, res.start)
					}
					if m.method() == method {
						break
					}
				}
			case "policy":
				res, ok := cl.read(10 * time.Second)
				for ok && res.status() < 200 {
					res, ok = cl.read(10 * time.Second)
				}
				if !ok || (res.status() != 403 && res.status() != 404 && res.status() != 503) {
					t.Fatalf("got %q, want federation policy's refusal (403, 404 or 503)", res.start)
				}
				quiet(t, tt.edge, before, 0, "edge")
			case "drop":
				if res, ok := cl.read(500 * time.Millisecond); ok {
					t.Fatalf("answered %q, want it dropped (%s)", res.start, c.note)
				}
				quiet(t, tt.edge, before, 0, "edge")
			default:
				status, _ := strconv.Atoi(want)
				res, ok := cl.read(3 * time.Second)
				for ok && res.status() == 100 {
					res, ok = cl.read(3 * time.Second)
				}
				if !ok || res.status() != status {
					t.Fatalf("got %q, want %s (%s)", res.start, want, c.note)
				}
				quiet(t, tt.edge, before, 50*time.Millisecond, "edge")
			}
		})
	}
}
