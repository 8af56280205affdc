package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
)

// The service files start the proxy with flags of this command: a renamed or mistyped flag
// fails here, not on the operator's host.
func TestServiceFilesUseRealFlags(t *testing.T) {
	env, err := os.ReadFile("../../../deploy/sipfed-proxy.env")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`SIPFED_FLAGS="([^"]*)"`).FindSubmatch(env)
	if m == nil {
		t.Fatal("deploy/sipfed-proxy.env sets no SIPFED_FLAGS")
	}
	siteFlags := strings.Fields(string(m[1]))

	unit, err := os.ReadFile("../../../deploy/sipfed-proxy.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "\\\n", " ")
	exec := regexp.MustCompile(`(?m)^ExecStart=(\S+) serve (.*)$`).FindStringSubmatch(text)
	if exec == nil {
		t.Fatal("the unit has no ExecStart=... serve")
	}
	args := append(strings.Fields(strings.ReplaceAll(exec[2], "$SIPFED_FLAGS", "")), siteFlags...)
	f, err := parseServeFlags(args)
	if err != nil {
		t.Fatalf("the unit's flags: %v", err)
	}
	stop := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindStringSubmatch(text)
	if stop == nil {
		t.Fatal("the unit sets no TimeoutStopSec")
	}
	if d, err := time.ParseDuration(stop[1]); err != nil || d <= f.shutdownTimeout {
		t.Fatalf("TimeoutStopSec=%s is not above --shutdown-timeout %v", stop[1], f.shutdownTimeout)
	}
	if !strings.Contains(text, "ExecReload=/bin/kill -HUP $MAINPID") {
		t.Error("the unit does not reload with SIGHUP")
	}

	docker, err := os.ReadFile("../../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	entry := regexp.MustCompile(`(?s)ENTRYPOINT (\[.*?\])\n`).FindSubmatch([]byte(strings.ReplaceAll(string(docker), "\\\n", "")))
	if entry == nil {
		t.Fatal("the Dockerfile has no ENTRYPOINT")
	}
	var argv []string
	if err := json.Unmarshal(entry[1], &argv); err != nil {
		t.Fatalf("ENTRYPOINT is not an exec form: %v", err)
	}
	if len(argv) < 2 || argv[1] != "serve" {
		t.Fatalf("ENTRYPOINT %q does not serve", argv)
	}
	if _, err := parseServeFlags(append(argv[2:], siteFlags...)); err != nil {
		t.Fatalf("the image's flags: %v", err)
	}
	health := regexp.MustCompile(`CMD (\["/usr/local/bin/sipfed-proxy", "health".*\])`).FindSubmatch(docker)
	if health == nil {
		t.Fatal("the Dockerfile's HEALTHCHECK does not run sipfed-proxy health")
	}
}

// `sipfed-proxy health`, the image's health check, against the real binary: 0 while the proxy is
// ready (over HTTPS with an unverified loopback certificate, as in the image, or with its CA),
// 1 once it is gone.
func TestHealthCommand(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.MustCA("admin CA")
	files, err := ca.MustIssue(testpki.LeafOptions{CN: "imp1.example.com", DNS: []string{"imp1.example.com"}}).WriteFiles(dir, "admin", ca)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxyTLS(t, files, "--data-dir", filepath.Join(dir, "data"), "--admin-token-file", writeTokenFile(t, dir))
	if out, code := runBinary(t, "health", "--endpoint", p.endpoint, "--insecure"); code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("health of a ready proxy: exit %d\n%s", code, out)
	}
	if out, code := runBinary(t, "health", "--endpoint", p.endpoint); code == 0 {
		t.Fatalf("health trusted an unknown certificate without --insecure:\n%s", out)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitExit(t, 10*time.Second)
	if out, code := runBinary(t, "health", "--endpoint", p.endpoint, "--insecure", "--timeout", "2s"); code != 1 || !strings.Contains(out, "not healthy") {
		t.Fatalf("health of a stopped proxy: exit %d\n%s", code, out)
	}
}

// startProxyTLS starts the proxy with its admin API over HTTPS and waits until it is ready.
func startProxyTLS(t *testing.T, files testpki.Files, args ...string) *proxyProcess {
	t.Helper()
	addr := freePort(t)
	return startProxyArgs(t, "https://"+addr, append([]string{"serve", "--admin-addr", addr, "--node-fqdn", "imp1.example.com",
		"--local-domain", "example.com", "--admin-tls-cert", files.Cert, "--admin-tls-key", files.Key}, args...))
}
