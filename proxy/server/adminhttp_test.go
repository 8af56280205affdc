package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// slowClient opens a connection to the admin API, writes head at once, then trickles one byte of
// trickle every 50 ms. It returns how long the server kept the connection open (the test gives
// up, and fails, after limit).
func slowClient(t *testing.T, addr, head, trickle string, limit time.Duration) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		// The server may answer (401, 408) before it cuts the connection: read to the end.
		_, _ = io.Copy(io.Discard, c)
		closed <- time.Since(start)
	}()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit)
	for i := 0; ; i++ {
		select {
		case took := <-closed:
			return took
		case <-deadline:
			t.Fatalf("the server still holds a connection trickling for %v", limit)
		case <-tick.C:
			_, _ = c.Write([]byte{trickle[i%len(trickle)]})
		}
	}
}

// Seen in issue 12: the admin server held a request whose body trickled forever, even with a
// wrong token. Its read timeouts cut a slow client, whatever the token; a header block over the
// limit is refused.
func TestAdminServerCutsSlowClients(t *testing.T) {
	limits := server.AdminHTTP{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second,
		WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10}
	p := servertest.Start(t, func(c *server.Config) { c.AdminHTTP = limits })
	addr := strings.TrimPrefix(p.AdminURL(), "http://")
	body := func(token string) string {
		return "POST /v1/federated-domains HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
			"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"domain\":\"a.com\",\"description\":\""
	}
	for _, tc := range []struct {
		name, head, trickle string
		bound               time.Duration
	}{
		{"body, wrong token", body("wrong-token-0123456789"), "x", limits.ReadTimeout},
		{"body, valid token", body(servertest.Token), "x", limits.ReadTimeout},
		{"header", "GET /v1/federated-domains HTTP/1.1\r\nHost: x\r\nX-Slow: ", "y", limits.ReadHeaderTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			took := slowClient(t, addr, tc.head, tc.trickle, 10*time.Second)
			if took > tc.bound+2*time.Second {
				t.Fatalf("cut after %v; the bound is %v", took, tc.bound)
			}
		})
	}

	t.Run("header too large", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		big := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
		go func() { _, _ = io.WriteString(c, big) }()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("a 64 KiB header: %d, want 431", resp.StatusCode)
		}
	})
}
