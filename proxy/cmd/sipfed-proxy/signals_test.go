package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitExit waits for the proxy process to end and returns its exit code.
func (p *proxyProcess) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("proxy still running %v after the signal:\n%s", within, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Seen in issue 12: SIGHUP killed the proxy (exit 129). It reloads instead, and keeps serving.
func TestSIGHUPDoesNotStopTheProxy(t *testing.T) {
	tokenFile := writeTokenFile(t, t.TempDir())
	p := startProxy(t, "--data-dir", t.TempDir(), "--admin-token-file", tokenFile)
	for range 3 {
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case <-p.exited:
		t.Fatalf("SIGHUP stopped the proxy (exit %d):\n%s", p.cmd.ProcessState.ExitCode(), p.stderr)
	default:
	}
	resp, err := http.Get(p.endpoint + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz after SIGHUP: %d", resp.StatusCode)
	}
}

// Seen in issue 12: there was no shutdown log line. SIGTERM stops the proxy with exit 0 and one
// line saying what was drained.
func TestSIGTERMExitsZeroAndSaysWhatWasDrained(t *testing.T) {
	tokenFile := writeTokenFile(t, t.TempDir())
	p := startProxy(t, "--data-dir", t.TempDir(), "--admin-token-file", tokenFile)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.stderr)
	}
	var stopped string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "sipfed-proxy stopped") {
			stopped = line
		}
	}
	if stopped == "" {
		t.Fatalf("no shutdown line:\n%s", p.stderr)
	}
	for _, want := range []string{"cause=terminated", "admin_requests=", "duration="} {
		if !strings.Contains(stopped, want) {
			t.Errorf("shutdown line lacks %q: %s", want, stopped)
		}
	}
}
