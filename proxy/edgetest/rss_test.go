package edgetest

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/sipptest"
)

// buildProxy builds sipfed-proxy for tests that run it as a process of its own (memory is
// measured per process). SIPFED_PROXY_BIN names another binary to measure instead, e.g. an
// older build for a before-and-after figure.
func buildProxy(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SIPFED_PROXY_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "sipfed-proxy")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/sipfed-proxy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Thousands of connections, from many addresses, each holding 60 KB of a message that never
// ends, leave the proxy within 256 MiB and serving: the partial-message budget closes the
// connections past it, and a message that starts is cut at the message timeout.
func TestSlowPartialHeadersLeaveMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 6,000 connections")
	}
	const (
		conns   = 6000
		sources = 30
		partial = 60 << 10
	)
	bin := buildProxy(t)
	sipPort, adminPort := sipptest.FreePort(t, "127.0.0.1"), sipptest.FreePort(t, "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", t.TempDir(),
		"--admin-addr", "127.0.0.1:"+strconv.Itoa(adminPort),
		"--sip-internal", "tcp://127.0.0.1:"+strconv.Itoa(sipPort),
		"--local-domain", "example.com", "--node-fqdn", "imp1.example.com", "--log-level", "error")
	cmd.Env = append(os.Environ(), "SIPFED_TOKEN=rss-test-token-0123456789", "GOMAXPROCS=2")
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	target := "127.0.0.1:" + strconv.Itoa(sipPort)
	waitListening(t, target)

	var opened, refused atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	start := time.Now()
	head := []byte("MESSAGE sip:bob@a.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKslow\r\nX-Filler: ")
	filler := []byte(strings.Repeat("y", partial-len(head)))
	sem := make(chan struct{}, 300)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			src := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i%sources), 10)}
			c, err := (&net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}).Dial("tcp", target)
			if err != nil {
				refused.Add(1)
				return
			}
			opened.Add(1)
			// Slowly: half, a pause, the other half; never the empty line that ends headers.
			_, _ = c.Write(head)
			time.Sleep(200 * time.Millisecond)
			_, _ = c.Write(filler[:len(filler)/2])
			time.Sleep(200 * time.Millisecond)
			_, _ = c.Write(filler[len(filler)/2:])
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("%d connections opened (%d refused) in %v, each sending %d bytes of headers that never end",
		opened.Load(), refused.Load(), time.Since(start).Round(time.Millisecond), partial)
	time.Sleep(time.Second)
	rss, peak := procMemory(t, cmd.Process.Pid)
	t.Logf("proxy RSS %d MiB now, %d MiB at its peak", rss>>20, peak>>20)
	// Still serving: an OPTIONS to the proxy itself, on a connection of its own.
	c, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		t.Fatalf("the proxy no longer accepts: %v", err)
	}
	defer c.Close()
	_, _ = c.Write([]byte(req("OPTIONS", "sip:imp1.example.com", "tcp "+c.LocalAddr().String(), nil)))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Fatalf("the proxy under attack answered %q, %v", line, err)
	}
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
	if peak > 256<<20 {
		t.Fatalf("peak RSS %d MiB, want at most 256 MiB", peak>>20)
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// procMemory reads a process's resident set and its peak, in bytes.
func procMemory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}
