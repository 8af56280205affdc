package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

func TestRouteExplainsARunningProxy(t *testing.T) {
	tokenFile := writeTokenFile(t, t.TempDir())
	p := startProxy(t, "--data-dir", t.TempDir(), "--admin-token-file", tokenFile)
	c, err := api.NewClient(p.endpoint, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop, r.NextHopPort = ".com.domaina.*", "192.0.2.10", 5071
	r, _, err = c.CreateStaticRoute(ctx, r)
	if err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	if err := route([]string{"--endpoint", p.endpoint, "--admin-token-file", tokenFile, "sip:bob@domaina.com"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"route for sip:bob@domaina.com",
		"federated domaina.com",
		"static    domaina.com",
		"pattern=.com.domaina.*",
		"192.0.2.10:5071",
		"static route " + r.ID,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := route([]string{"--endpoint", p.endpoint, "--admin-token-file", tokenFile, "sip:eve@stranger.com"}, &out); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a URI that would not be routed: err = %v, want one naming 403", err)
	}
	if !strings.Contains(out.String(), "result: 403") {
		t.Errorf("a non-federated domain is not shown as refused:\n%s", out.String())
	}

	t.Setenv("SIPFED_TOKEN", "wrong-token-0123456789abc")
	if err := route([]string{"--endpoint", p.endpoint, "sip:bob@domaina.com"}, &out); err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "token") {
		t.Errorf("a wrong token: err = %v", err)
	}
}

// Seen in issue 12: `sipfed-proxy route` exited 0 when the URI would get 404. The real binary
// exits 0 only when the proxy would route the URI, and says the result either way.
func TestRouteExitStatusSaysWhetherRouted(t *testing.T) {
	tokenFile := writeTokenFile(t, t.TempDir())
	resolver := startDNS(t, map[string]int{"_sipfederationtls._tcp.dnsdown.example": dns.RcodeServerFailure})
	p := startProxy(t, "--data-dir", t.TempDir(), "--admin-token-file", tokenFile, "--dns-server", resolver, "--dns-negative-ttl", "20s")
	c, err := api.NewClient(p.endpoint, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range []string{"domaina.com", "nowhere.example", "dnsdown.example"} {
		if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: d}); err != nil {
			t.Fatal(err)
		}
	}
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop, r.NextHopPort = ".com.domaina.*", "192.0.2.10", 5071
	if _, _, err := c.CreateStaticRoute(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uri  string
		exit int
		want string
	}{
		{"sip:bob@domaina.com", 0, "192.0.2.10:5071"},
		{"sip:bob@nowhere.example", 1, "result: 404"},      // no route, and NXDOMAIN
		{"sip:bob@dnsdown.example", 1, "retry_after: 20s"}, // no route, and SERVFAIL: 503
		{"sip:eve@stranger.com", 1, "result: 403"},
	} {
		out, code := runBinary(t, "route", "--endpoint", p.endpoint, "--admin-token-file", tokenFile, tc.uri)
		if code != tc.exit || !strings.Contains(out, tc.want) {
			t.Errorf("route %s: exit %d, want %d; output lacks %q?\n%s", tc.uri, code, tc.exit, tc.want, out)
		}
	}
}

// runBinary runs the sipfed-proxy binary (this test binary re-executed) and returns its combined
// output and exit code.
func runBinary(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "SIPFED_PROXY_MAIN="+encodeArgs(args))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %v: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
