package edgetest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/sipptest"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
)

// Seen in issue 12: with 5 UDP and 5 TCP MESSAGEs in flight toward a slow edge, SIGTERM lost
// every UDP answer, and the clients' retransmissions reached the restarted proxy (delivered
// twice). Now every transaction in flight, on every protocol, gets its final response, and the
// proxy exits 0 saying what it drained.
func TestSIGTERMAnswersEveryTransactionInFlight(t *testing.T) {
	bin := buildProxy(t)
	dir := t.TempDir()
	ourCA, partnersCA := testpki.MustCA("our CA"), testpki.MustCA("partners CA")
	ours := ourCA.MustIssue(testpki.LeafOptions{CN: "fed.example.com", DNS: []string{"fed.example.com"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	files, err := ours.WriteFiles(dir, "proxy", partnersCA)
	if err != nil {
		t.Fatal(err)
	}
	edgeLeaf := partnersCA.MustIssue(testLeaf("edge.a.test"))
	slow := func(r wireMsg) []string {
		if r.method() == "ACK" {
			return nil
		}
		time.Sleep(2 * time.Second)
		return []string{respond(r, 200, "OK")}
	}
	edge := startPeer(t, "tls", "127.0.0.1", edgeServerTLS(edgeLeaf, ourCA))
	edge.answer = slow
	inner := startPeer(t, "tcp", "127.0.0.1", nil)
	inner.answer = slow

	udpPort, tcpPort, tlsPort, adminPort := sipptest.FreePort(t, "127.0.0.1"), sipptest.FreePort(t, "127.0.0.1"), sipptest.FreePort(t, "127.0.0.1"), sipptest.FreePort(t, "127.0.0.1")
	const token = "sigterm-test-token-0123456789"
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--admin-addr", "127.0.0.1:"+strconv.Itoa(adminPort),
		"--sip-internal", "udp://127.0.0.1:"+strconv.Itoa(udpPort), "--sip-internal", "tcp://127.0.0.1:"+strconv.Itoa(tcpPort),
		"--sip-external", "tls://127.0.0.1:"+strconv.Itoa(tlsPort), "--internal-next-hop", "sip:"+inner.addr+";transport=tcp",
		"--tls-cert", files.Cert, "--tls-key", files.Key, "--tls-ca", files.CA,
		"--local-domain", "example.com", "--node-fqdn", "imp1.example.com")
	cmd.Env = append(os.Environ(), "SIPFED_TOKEN="+token)
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	waitListening(t, "127.0.0.1:"+strconv.Itoa(adminPort))
	c, err := api.NewClient("http://127.0.0.1:"+strconv.Itoa(adminPort), token)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := c.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "edge.a.test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "a.test"}); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(edge.addr)
	p, _ := strconv.Atoi(port)
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop, r.NextHopPort = api.DestinationPattern("a.test"), host, p
	if _, _, err := c.CreateStaticRoute(ctx, r); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	results := make(chan string, 15)
	send := func(transport, addr string, partner bool) {
		defer wg.Done()
		var cl *client
		raw := ""
		if partner {
			cl = dial(t, "tls", addr, mutualTLS(edgeLeaf, ourCA), "")
			raw = req("MESSAGE", "sip:alice@example.com", "tls "+cl.local(), map[string]string{"From": "<sip:carl@a.test>;tag=x"})
		} else {
			cl = dial(t, transport, addr, nil, "")
			raw = req("MESSAGE", "sip:bob@a.test", transport+" "+cl.local(), nil)
		}
		cl.send(t, raw)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			m, ok := cl.read(time.Until(deadline))
			if !ok {
				break
			}
			if m.status() >= 200 {
				results <- transport + " " + m.start
				return
			}
		}
		results <- transport + " no final response"
	}
	for range 5 {
		wg.Add(3)
		go send("udp", "127.0.0.1:"+strconv.Itoa(udpPort), false)
		go send("tcp", "127.0.0.1:"+strconv.Itoa(tcpPort), false)
		go send("tls", "127.0.0.1:"+strconv.Itoa(tlsPort), true)
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if !strings.Contains(r, "SIP/2.0 200") {
			t.Errorf("a client in flight at SIGTERM got %q", r)
		}
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", exitErr, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the proxy did not exit")
	}
	if !strings.Contains(logs.String(), "sipfed-proxy stopped") {
		t.Errorf("no shutdown line:\n%s", logs.String())
	}
	if edge.count() != 10 || inner.count() != 5 {
		t.Errorf("the edge got %d requests (want 10: the UDP and TCP senders') and the internal server %d (want 5): each once", edge.count(), inner.count())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
