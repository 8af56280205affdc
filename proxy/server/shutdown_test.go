package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// slowEdge is a partner edge over TCP that answers MESSAGE with 200 after delay, and says when
// a request arrived.
func slowEdge(t *testing.T, delay time.Duration) (port int, arrived <-chan struct{}) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("slow-edge"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 16)
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		got <- struct{}{}
		time.Sleep(delay)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTCP(l) }()
	t.Cleanup(func() { _ = l.Close(); _ = ua.Close() })
	return l.Addr().(*net.TCPAddr).Port, got
}

// syncBuffer is a log destination tests read while the proxy writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// shutdownProxy is a proxy with a TCP internal listener, a route toward a slow edge, and its log
// in a buffer.
func shutdownProxy(t *testing.T, bound, edgeDelay time.Duration) (*servertest.Proxy, *sender, <-chan struct{}, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	p := servertest.Start(t, servertest.WithSIP(relay.Config{
		Internal:   []relay.Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}},
		HopTimeout: 10 * time.Second,
	}), func(c *server.Config) {
		c.ShutdownTimeout = bound
		c.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	port, arrived := slowEdge(t, edgeDelay)
	ctx := context.Background()
	if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Client.CreateStaticRoute(ctx, staticRoute(".com.domaina.*", port, "tcp")); err != nil {
		t.Fatal(err)
	}
	return p, newSender(t, "tcp", p.Relay().InternalAddrs()[0].Addr), arrived, logs
}

func readyz(t *testing.T, p *servertest.Proxy) (int, map[string]string, error) {
	t.Helper()
	resp, err := http.Get(p.AdminURL() + "/readyz")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]string
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &body)
	return resp.StatusCode, body, nil
}

// A graceful stop, in order: /readyz turns not-ready at once, with the reason, while a SIP
// transaction toward a slow edge is still in flight; the transaction gets its final response;
// an admin request in flight finishes; the stop ends well inside the bound and its log line says
// what was drained.
func TestShutdownDrainsInOrder(t *testing.T) {
	p, s, arrived, logs := shutdownProxy(t, 10*time.Second, time.Second)
	if code, _, err := readyz(t, p); err != nil || code != http.StatusOK {
		t.Fatalf("/readyz before the stop: %d %v", code, err)
	}

	sipDone := make(chan *sip.Response, 1)
	go func() {
		res, err := s.message(context.Background(), "sip:alice@domaina.com")
		if err != nil {
			t.Errorf("MESSAGE in flight during the stop: %v", err)
		}
		sipDone <- res
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the MESSAGE did not reach the edge")
	}
	// An admin request that lasts: a one-second CPU profile.
	adminDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, p.AdminURL()+"/debug/pprof/profile?seconds=1", nil)
		req.Header.Set("Authorization", "Bearer "+p.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("admin request in flight during the stop: %v", err)
			adminDone <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		adminDone <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Shutdown("terminated") }()

	var code int
	var body map[string]string
	for time.Since(start) < 500*time.Millisecond {
		var err error
		if code, body, err = readyz(t, p); err == nil && code == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body["reason"], "shutting down (terminated)") {
		t.Fatalf("/readyz during the stop: %d %v; want 503 with the reason", code, body)
	}
	select {
	case res := <-sipDone:
		t.Fatalf("the MESSAGE was answered (%v) before /readyz turned not-ready", res)
	default:
	}

	if res := <-sipDone; res == nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("the MESSAGE in flight got %v, want the edge's 200", res)
	}
	if code := <-adminDone; code != http.StatusOK {
		t.Fatalf("the admin request in flight got %d, want 200", code)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the stop took %v", took)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="sipfed-proxy stopped"`) {
			line = l
		}
	}
	for _, want := range []string{"cause=terminated", "sip_transactions=1", "admin_requests=", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("stop line %q lacks %q\n%s", line, want, logs)
		}
	}
	if res, err := http.Get(p.AdminURL() + "/healthz"); err == nil {
		_ = res.Body.Close()
		t.Error("the admin API still answers after the stop")
	}
}

// The bound holds: an edge slower than the bound does not hold the stop, and the log says what
// was cut.
func TestShutdownIsBounded(t *testing.T) {
	p, s, arrived, logs := shutdownProxy(t, 2*time.Second, 6*time.Second)
	go func() { _, _ = s.message(context.Background(), "sip:alice@domaina.com") }()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the MESSAGE did not reach the edge")
	}
	start := time.Now()
	if err := p.Shutdown("terminated"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the stop took %v; the bound is 2s", took)
	}
	if !strings.Contains(logs.String(), "stopped at the shutdown bound") || !strings.Contains(logs.String(), "SIP transactions still in flight") {
		t.Fatalf("the log does not say what was cut:\n%s", logs)
	}
}
