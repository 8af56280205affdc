package provider

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// TestMain points Terraform at an empty CLI configuration of the test's own: the machine's may
// name a missing file, a mirror or dev_overrides, none of which an acceptance test should see.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sip-provider-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(cfg, []byte("# empty: acceptance tests reattach to the provider in-process\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TF_CLI_CONFIG_FILE", cfg)
	// A plugin cache or the user's credentials must not leak in either.
	os.Unsetenv("TF_PLUGIN_CACHE_DIR")
	for _, env := range []string{EnvEndpoint, EnvToken, EnvCACert, EnvInsecure, EnvRequestTimeout, EnvRetry, EnvRetryTimeout} {
		os.Unsetenv(env)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// protoV6ProviderFactories runs the provider in-process, reattached by the real Terraform CLI.
var protoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"sip": providerserver.NewProtocol6WithError(New("test")()),
}

// providerConfig points the provider at a test proxy. Tests run in parallel, each with its own
// proxy, so the endpoint is in the configuration rather than the process environment.
func providerConfig(p *servertest.Proxy) string {
	return fmt.Sprintf(`
provider "sip" {
  endpoint = %q
  token    = %q
  retry    = 1
}
`, p.Endpoint, p.Token)
}

// unreachableProviderConfig is a provider no request can reach: a test that expects an error at
// plan time with it proves the error came from validation, not from the API.
const unreachableProviderConfig = `
provider "sip" {
  endpoint = "http://127.0.0.1:1"
  token    = "unused-token-0123456789"
  retry    = 1
}
`

// errorRe matches a phrase in Terraform's output, which wraps long diagnostics across lines
// that each begin with a box-drawing bar.
func errorRe(phrase string) *regexp.Regexp {
	words := strings.Fields(phrase)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(strings.Join(words, `[\s│]+`))
}

func TestErrorRe(t *testing.T) {
	re := errorRe(`domain: "a..com": empty label`)
	wrapped := "│ domain: \"a..com\":\n│ empty label (leading, trailing or double dot)"
	if !re.MatchString(wrapped) {
		t.Errorf("%v does not match a wrapped diagnostic", re)
	}
	if re.MatchString(`domain: "abcom": empty label`) {
		t.Errorf("%v matches a different value: the phrase must be quoted", re)
	}
}

func TestProviderSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	null := sipProviderModel{
		Endpoint: types.StringNull(), Token: types.StringNull(), CACert: types.StringNull(),
		Insecure: types.BoolNull(), RequestTimeout: types.StringNull(), Retry: types.Int64Null(), RetryTimeout: types.StringNull(),
	}

	t.Run("defaults", func(t *testing.T) {
		s, diags := null.settings(env(map[string]string{EnvToken: "t0123456789abcdef"}))
		if diags.HasError() {
			t.Fatal(diags)
		}
		if s.endpoint != api.DefaultEndpoint || s.timeout != defaultRequestTimeout || s.attempts != api.DefaultRetry.Attempts ||
			s.retryTimeout != api.DefaultRetry.Timeout || s.insecure {
			t.Errorf("defaults: got %+v", s)
		}
	})

	t.Run("environment", func(t *testing.T) {
		s, diags := null.settings(env(map[string]string{
			EnvEndpoint: "https://sipfed.example:8443", EnvToken: "env-token-0123456789",
			EnvInsecure: "true", EnvRequestTimeout: "5s", EnvRetry: "2", EnvRetryTimeout: "1m",
		}))
		if diags.HasError() {
			t.Fatal(diags)
		}
		want := settings{endpoint: "https://sipfed.example:8443", token: "env-token-0123456789", insecure: true, timeout: 5 * time.Second, attempts: 2, retryTimeout: time.Minute}
		if s != want {
			t.Errorf("got %+v, want %+v", s, want)
		}
	})

	t.Run("configuration wins over environment", func(t *testing.T) {
		m := sipProviderModel{
			Endpoint: types.StringValue("http://10.0.0.1:7080"), Token: types.StringValue("hcl-token-0123456789"),
			CACert: types.StringNull(), Insecure: types.BoolValue(false), RequestTimeout: types.StringValue("1m"),
			Retry: types.Int64Value(1), RetryTimeout: types.StringValue("5s"),
		}
		s, diags := m.settings(env(map[string]string{
			EnvEndpoint: "http://ignored:1", EnvToken: "ignored", EnvInsecure: "true", EnvRequestTimeout: "5s", EnvRetry: "3",
			EnvRetryTimeout: "1m",
		}))
		if diags.HasError() {
			t.Fatal(diags)
		}
		want := settings{endpoint: "http://10.0.0.1:7080", token: "hcl-token-0123456789", timeout: time.Minute, attempts: 1, retryTimeout: 5 * time.Second}
		if s != want {
			t.Errorf("got %+v, want %+v", s, want)
		}
	})

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing token", nil, "Missing sipfed admin token"},
		{"bad endpoint from env", map[string]string{EnvToken: "t0123456789abcdef", EnvEndpoint: "ftp://x"}, "scheme must be http or https"},
		{"bad insecure", map[string]string{EnvToken: "t0123456789abcdef", EnvInsecure: "yes please"}, "SIPFED_INSECURE=\"yes please\" is not a boolean"},
		{"bad timeout", map[string]string{EnvToken: "t0123456789abcdef", EnvRequestTimeout: "10"}, "SIPFED_REQUEST_TIMEOUT: \"10\" is not a duration"},
		{"negative timeout", map[string]string{EnvToken: "t0123456789abcdef", EnvRequestTimeout: "-1s"}, "must be positive"},
		{"bad retry", map[string]string{EnvToken: "t0123456789abcdef", EnvRetry: "0"}, "SIPFED_RETRY=\"0\" is not a number of attempts from 1 to 100"},
		{"bad retry timeout", map[string]string{EnvToken: "t0123456789abcdef", EnvRetryTimeout: "20"}, "SIPFED_RETRY_TIMEOUT: \"20\" is not a duration"},
		{"bad ca_cert", map[string]string{EnvToken: "t0123456789abcdef", EnvCACert: "/etc/ssl/ca.pem"}, "no PEM certificate found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := null.settings(env(tc.env))
			if !diags.HasError() {
				t.Fatalf("no error, want %q", tc.want)
			}
			var all string
			for _, d := range diags.Errors() {
				all += d.Summary() + ": " + d.Detail() + "\n"
			}
			if !strings.Contains(all, tc.want) {
				t.Errorf("errors %q do not say %q", all, tc.want)
			}
		})
	}

	t.Run("unknown endpoint", func(t *testing.T) {
		m := null
		m.Endpoint = types.StringUnknown()
		_, diags := m.settings(env(nil))
		if !diags.HasError() || !strings.Contains(diags.Errors()[0].Detail(), EnvEndpoint) {
			t.Errorf("an unknown endpoint must be an error naming %s, got %v", EnvEndpoint, diags)
		}
	})
}

// TestAccProvider_connection covers what a user sees when the provider cannot talk to the proxy,
// and a TLS admin API with a private CA.
func TestAccProvider_connection(t *testing.T) {
	p := servertest.Start(t)
	ca := testpki.MustCA("sipfed admin test CA")
	leaf := ca.MustIssue(testpki.LeafOptions{CN: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	target, err := url.Parse(p.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// An https front for the proxy's plain-HTTP admin API, with a certificate of a private CA.
	tlsFront := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	tlsFront.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, MinVersion: tls.VersionTLS12}
	tlsFront.StartTLS()
	t.Cleanup(tlsFront.Close)
	tlsEndpoint := tlsFront.URL

	const readDomains = `
data "sip_federated_domains" "all" {}
`
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: `
provider "sip" {
  endpoint = "http://127.0.0.1:1"
  token    = "some-token-0123456789"
  retry    = 1
}
` + readDomains,
				ExpectError: errorRe("Cannot reach the sipfed admin API"),
			},
			{
				Config:      fmt.Sprintf("provider \"sip\" {\n  endpoint = %q\n}\n", p.Endpoint) + readDomains,
				ExpectError: errorRe("Missing sipfed admin token"),
			},
			{
				Config:      fmt.Sprintf("provider \"sip\" {\n  endpoint = %q\n  token = \"wrong-token-0123456789\"\n}\n", p.Endpoint) + readDomains,
				ExpectError: errorRe("sipfed admin API rejected the token"),
			},
			{
				Config:      fmt.Sprintf("provider \"sip\" {\n  endpoint = %q\n  token = %q\n  retry = 1\n}\n", tlsEndpoint, p.Token) + readDomains,
				ExpectError: errorRe("sipfed admin API certificate not trusted"),
			},
			{
				Config:      fmt.Sprintf("provider \"sip\" {\n  endpoint = %q\n  token = %q\n  request_timeout = \"10\"\n}\n", p.Endpoint, p.Token) + readDomains,
				ExpectError: errorRe(`"10" is not a duration`),
			},
			{
				Config: fmt.Sprintf("provider \"sip\" {\n  endpoint = %q\n  token = %q\n  ca_cert = %q\n}\n", tlsEndpoint, p.Token, string(ca.CertPEM)) + readDomains,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sip_federated_domains.all", tfjsonpath.New("names"), knownvalue.ListExact([]knownvalue.Check{})),
				},
			},
			{
				Config: fmt.Sprintf("provider \"sip\" {\n  endpoint = %q\n  token = %q\n  insecure = true\n}\n", tlsEndpoint, p.Token) + readDomains,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sip_federated_domains.all", tfjsonpath.New("names"), knownvalue.ListExact([]knownvalue.Check{})),
				},
			},
		},
	})
}

// Helpers shared by the acceptance tests.

// apiCheck runs an assertion against the proxy, the source of truth, after a step.
func apiCheck(f func(ctx context.Context) error) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return f(ctx)
	}
}

// outOfBand runs a change on the proxy behind Terraform's back, failing the test if it fails.
func outOfBand(t *testing.T, f func(ctx context.Context) error) func() {
	return func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			t.Fatalf("out-of-band change: %v", err)
		}
	}
}
