package api

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// The default budget rides out a proxy restart of about 10 s: the admin port refuses connections
// meanwhile, and the call succeeds once the proxy is back.
func TestDefaultRetryRidesOutARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s")
	}
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	const down = 10 * time.Second
	go func() {
		time.Sleep(down)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("the proxy could not come back on %s: %v", addr, err)
			return
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			apiOK(w, http.StatusOK, FederatedDomain{Domain: "a.com"})
		})}
		t.Cleanup(func() { _ = srv.Close() })
		_ = srv.Serve(l)
	}()
	c, err := NewClient("http://"+addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := c.GetFederatedDomain(context.Background(), "a.com"); err != nil {
		t.Fatalf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("succeeded after %s, across a restart of %s", time.Since(start).Round(time.Millisecond), down)
}
