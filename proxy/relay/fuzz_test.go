package relay

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// FuzzRequest feeds arbitrary bytes to the proxy's entry point, from the internal side over UDP
// and from the external side, through the whole relay: parser, core and federation policy. The
// proxy must not crash, and whatever it sends to the partner's edge must parse under its own
// strict parser: it never emits a message it would itself refuse.
//
//	go test -run XXX -fuzz FuzzRequest -fuzztime 10m ./proxy/relay
func FuzzRequest(f *testing.F) {
	for _, dir := range []string{"../sip/message/testdata/rfc4475"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.dat"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b, false)
				f.Add(b, true)
			}
		}
	}
	f.Add([]byte(benchMessage("UDP", "127.0.0.1:5070", "alice@"+localDomain, "bob@"+partnerDomain, 1)), false)
	f.Add([]byte(benchMessage("TLS", "127.0.0.1:5071", "bob@"+partnerDomain, "alice@"+localDomain, 2)), true)

	edge, sent := sinkUDP(f)
	h := &holder{}
	h.p.Store(fed{
		domains:  []api.FederatedDomain{{Domain: partnerDomain}},
		routes:   []api.StaticRoute{route(partnerDomain, edge, "udp", 1)},
		subjects: []string{partnerEdge},
	}.snapshot())
	r, err := New(Config{
		Logger: testLogger(f), NodeFQDN: nodeFQDN,
		Internal:        []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		External:        []Listener{{Transport: "tls", Addr: "127.0.0.1:0"}},
		InternalNextHop: NextHop{Host: "127.0.0.1", Port: portNum(edge), Transport: "udp"},
		TLS:             newPKI(f).proxyMat,
		HopTimeout:      50 * time.Millisecond,
	}, h, testDNS(f))
	if err != nil {
		f.Fatal(err)
	}
	r.tp.Serve()
	f.Cleanup(r.Close)
	internal := r.tp.UDPSockets(transport.Internal)[0]
	from := netip.MustParseAddrPort("127.0.0.1:5070")
	f.Fuzz(func(t *testing.T, b []byte, external bool) {
		src := transport.Source{Side: transport.Internal, Proto: transport.UDP, Socket: internal, Remote: from}
		if external {
			// A partner's request over a connection with no certificate: the policy's path
			// for plaintext on the external side.
			src = transport.Source{Side: transport.External, Proto: transport.UDP, Socket: internal, Remote: from}
		}
		r.tp.Inject(b, true, &src)
		for _, out := range sent.take() {
			var m message.Msg
			if err := message.Parse(&m, out, true, message.DefaultLimits); err != nil {
				t.Fatalf("the proxy sent a message it refuses itself (%v):\n%q\nfrom input:\n%q", err, out, b)
			}
		}
	})
}

// sinkUDP is a UDP socket that keeps what it gets, for the fuzzer to check.
func sinkUDP(t testing.TB) (string, *received) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	rec := &received{}
	go func() {
		buf := make([]byte, 70000)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			rec.add(append([]byte(nil), buf[:n]...))
		}
	}()
	return pc.LocalAddr().String(), rec
}

type received struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (r *received) add(b []byte) {
	r.mu.Lock()
	if len(r.msgs) < 1000 {
		r.msgs = append(r.msgs, b)
	}
	r.mu.Unlock()
}

func (r *received) take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

var _ = strings.TrimSpace
