package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
)

// The tests run the proxy as a real process: the test binary re-executes itself as sipfed-proxy
// when SIPFED_PROXY_MAIN is set, so no separate build is needed and coverage still counts.
func TestMain(m *testing.M) {
	if args := os.Getenv("SIPFED_PROXY_MAIN"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		os.Args = append([]string{"sipfed-proxy"}, argv...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proxyProcess is a sipfed-proxy running as a child process.
type proxyProcess struct {
	cmd      *exec.Cmd
	endpoint string
	stderr   *logBuffer
	exited   chan struct{}
}

const testToken = "crash-test-token-0123456789"

func writeTokenFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "tokens")
	if err := os.WriteFile(path, []byte("# test tokens\ncrash:"+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startProxy runs `sipfed-proxy serve args...` and waits until its admin API is ready.
func startProxy(t *testing.T, args ...string) *proxyProcess {
	t.Helper()
	addr := freePort(t)
	return startProxyArgs(t, "http://"+addr,
		append([]string{"serve", "--admin-addr", addr, "--node-fqdn", "imp1.example.com", "--local-domain", "example.com"}, args...))
}

// startProxyArgs runs `sipfed-proxy args...` and waits until endpoint/readyz answers 200.
func startProxyArgs(t *testing.T, endpoint string, args []string) *proxyProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SIPFED_PROXY_MAIN="+encodeArgs(args))
	p := &proxyProcess{cmd: cmd, endpoint: endpoint, stderr: &logBuffer{}, exited: make(chan struct{})}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.stderr.WriteString(sc.Text() + "\n")
		}
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("proxy exited during start:\n%s", p.stderr)
		default:
		}
		// Readiness only: an HTTPS admin API's certificate is the test's, not verified here.
		resp, err := readinessClient.Get(p.endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("proxy not ready within 20s:\n%s", p.stderr)
	return nil
}

// logBuffer holds a process's log; tests read it while the process writes.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var readinessClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func (p *proxyProcess) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServeRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--local-domain", "bad_domain"}, "--local-domain"},
		{[]string{"--node-fqdn", "-x.example.com"}, "--node-fqdn"},
		{[]string{"--dns-server", "127.0.0.1"}, "--dns-server"},
		{[]string{"--admin-token-file", filepath.Join(dir, "missing")}, "admin token file"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--admin-addr", "0.0.0.0:0"}, "HTTPS"},
		{[]string{"--admin-tls-cert", filepath.Join(dir, "missing.pem")}, "go together"},
		{[]string{"--tls-ciphers", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, "--tls-ciphers"},
		{[]string{"--sip-external", "tcp://127.0.0.1:0"}, "tls"},
		{[]string{"--sip-internal", "sctp://127.0.0.1:0"}, "--sip-internal"},
	}
	for _, tc := range cases {
		args := append([]string{"serve", "--data-dir", dir, "--admin-addr", "127.0.0.1:0", "--node-fqdn", "imp1.example.com"}, tc.args...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(os.Environ(), "SIPFED_PROXY_MAIN="+encodeArgs(args))
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("%v: proxy started", tc.args)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: error does not name %q:\n%s", tc.args, tc.want, out)
		}
	}
}

func encodeArgs(args []string) string {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The reference's rule: Lync/S4B peers have no elliptic-curve cipher suites, so a selection of
// EC suites only is refused at start, with the reason.
func TestServeRefusesECOnlyCiphers(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.MustCA("test CA")
	files, err := ca.MustIssue(testpki.LeafOptions{CN: "imp1.example.com", DNS: []string{"imp1.example.com"}, Key: testpki.RSA}).WriteFiles(dir, "proxy", ca)
	if err != nil {
		t.Fatal(err)
	}
	run := func(ciphers string) (string, error) {
		args := []string{"serve", "--data-dir", dir, "--admin-addr", "127.0.0.1:0", "--node-fqdn", "imp1.example.com",
			"--sip-internal", "tcp://127.0.0.1:0", "--tls-cert", files.Cert, "--tls-key", files.Key, "--tls-ca", files.CA,
			"--tls-ciphers", ciphers}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(os.Environ(), "SIPFED_PROXY_MAIN="+encodeArgs(args))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
	if err == nil || !strings.Contains(out, "--tls-ciphers") || !strings.Contains(out, "Lync") {
		t.Fatalf("EC-only selection: err %v, output:\n%s", err, out)
	}
	// A mixed selection starts (and runs until the deadline kills it).
	out, err = run("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_GCM_SHA256")
	if !strings.Contains(out, "sipfed-proxy started") {
		t.Fatalf("mixed selection did not start: %v\n%s", err, out)
	}
}
