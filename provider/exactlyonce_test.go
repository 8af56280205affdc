package provider

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// losingGateway is a small gateway in front of the admin API, as a load balancer or reverse proxy
// is. For the first request of each armed method it passes the request on, so the proxy commits
// it, and then loses the answer: it answers 503 of its own, or drops the connection.
type losingGateway struct {
	*httptest.Server
	mode  string // "503" or "drop"
	mu    sync.Mutex
	armed map[string]bool
	lost  atomic.Int32
}

func newLosingGateway(t *testing.T, p *servertest.Proxy, mode string, methods ...string) *losingGateway {
	target, err := url.Parse(p.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	g := &losingGateway{mode: mode, armed: map[string]bool{}}
	for _, m := range methods {
		g.armed[m] = true
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		lose := g.armed[r.Method]
		g.armed[r.Method] = false
		g.mu.Unlock()
		if !lose {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		if rec.Code >= 300 {
			t.Errorf("the request whose answer the gateway loses failed: %d %s", rec.Code, rec.Body)
		}
		g.lost.Add(1)
		if g.mode == "drop" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		http.Error(w, "503 Service Unavailable: upstream answer lost", http.StatusServiceUnavailable)
	}))
	t.Cleanup(g.Close)
	return g
}

// defaultRetryProviderConfig points the provider at endpoint with the default retries.
func defaultRetryProviderConfig(endpoint string) string {
	return fmt.Sprintf(`
provider "sip" {
  endpoint = %q
  token    = %q
}
`, endpoint, servertest.Token)
}

// The first failure, end to end: the gateway commits the create of a route and loses its
// answer. The apply ends with exactly one route, the one in the state; an update whose answer is
// lost the same way completes too.
func TestAccStaticRoute_lostAnswers(t *testing.T) {
	for _, mode := range []string{"503", "drop"} {
		t.Run(mode, func(t *testing.T) {
			p := servertest.Start(t)
			gw := newLosingGateway(t, p, mode, http.MethodPost, http.MethodPut)
			route := func(hop string) string {
				return defaultRetryProviderConfig(gw.URL) + fmt.Sprintf(`
resource "sip_static_route" "test" {
  destination_pattern = ".com.partner.*"
  next_hop            = %q
}
`, hop)
			}
			onlyRoute := func(hop string) resource.TestCheckFunc {
				return func(s *terraform.State) error {
					rs, ok := s.RootModule().Resources[staticRouteAddr]
					if !ok {
						return fmt.Errorf("%s is not in the state", staticRouteAddr)
					}
					return apiCheck(func(ctx context.Context) error {
						l, err := p.Client.ListStaticRoutes(ctx)
						if err != nil {
							return err
						}
						if len(l.Items) != 1 || l.Items[0].ID != rs.Primary.ID || l.Items[0].NextHop != hop {
							return fmt.Errorf("routes on the proxy: %+v; want exactly one, %s (next hop %s), the one in the state", l.Items, rs.Primary.ID, hop)
						}
						return nil
					})(s)
				}
			}
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: protoV6ProviderFactories,
				CheckDestroy:             checkStaticRoutesDestroyed(p),
				Steps: []resource.TestStep{
					{
						Config: route("192.0.2.10"),
						Check:  onlyRoute("192.0.2.10"),
					},
					{
						Config: route("192.0.2.20"),
						ConfigPlanChecks: resource.ConfigPlanChecks{
							PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(staticRouteAddr, plancheck.ResourceActionUpdate)},
						},
						Check: resource.ComposeAggregateTestCheckFunc(onlyRoute("192.0.2.20"), func(*terraform.State) error {
							if n := gw.lost.Load(); n != 2 {
								return fmt.Errorf("the gateway lost %d answers, want 2 (the create's and the update's)", n)
							}
							return nil
						}),
					},
				},
			})
		})
	}
}

// A wrong endpoint must never make Terraform forget what it manages: a path prefix the admin API
// does not have, or another HTTP server, fails the plan naming the URL, and refresh drops nothing.
func TestAccProvider_wrongEndpointDropsNothing(t *testing.T) {
	p := servertest.Start(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html><body>404 Not Found</body></html>")
	}))
	t.Cleanup(other.Close)
	resources := `
resource "sip_federated_domain" "test" {
  domain = "partner.example"
}

resource "sip_static_route" "test" {
  destination_pattern = ".example.partner.*"
  next_hop            = "192.0.2.10"
}
`
	withEndpoint := func(endpoint string) string {
		return fmt.Sprintf("provider \"sip\" {\n  endpoint = %q\n  token = %q\n  retry = 1\n}\n", endpoint, p.Token) + resources
	}
	wrongPrefix := p.Endpoint + "/admin"
	namesURL := func(prefix string) *regexp.Regexp {
		return regexp.MustCompile(`(?s)Not a sipfed admin API.*` + regexp.QuoteMeta(prefix+"/v1/"))
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: withEndpoint(p.Endpoint)},
			{Config: withEndpoint(wrongPrefix), PlanOnly: true, ExpectError: namesURL(wrongPrefix)},
			{RefreshState: true, ExpectError: namesURL(wrongPrefix)},
			{Config: withEndpoint(other.URL), PlanOnly: true, ExpectError: namesURL(other.URL)},
			{RefreshState: true, ExpectError: namesURL(other.URL)},
			// Nothing was dropped from the state: with the right endpoint, there is nothing to do.
			{Config: withEndpoint(p.Endpoint), PlanOnly: true},
		},
	})
}

// A proxy restarted in the middle of an apply of 30 domains: the provider rides out the restart
// with its default retries, the apply succeeds, and the 30 domains are there, each once.
func TestAccProvider_proxyRestartMidApply(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	dir := t.TempDir()
	tokens, err := admin.NewTokens(map[string]string{"test": servertest.Token})
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		DataDir: dir, AdminAddr: addr, Tokens: tokens,
		Routing: routing.Options{NodeFQDN: "imp1.example.com", LocalDomains: []string{"example.com"}},
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	start := func() (*server.Server, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return server.Start(ctx, cfg)
	}
	first, err := start()
	if err != nil {
		t.Fatal(err)
	}
	client, err := api.NewClient("http://"+addr, servertest.Token, api.WithRetry(api.Retry{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}

	const n, restartAt, down = 30, 8, 3 * time.Second
	var (
		mu         sync.Mutex
		second     *server.Server
		restartErr error
		atRestart  = -1
	)
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if l, err := client.ListFederatedDomains(context.Background()); err == nil && len(l.Items) >= restartAt {
				mu.Lock()
				atRestart = len(l.Items)
				mu.Unlock()
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		_ = first.Close()
		time.Sleep(down)
		s, err := start()
		mu.Lock()
		second, restartErr = s, err
		mu.Unlock()
	}()
	t.Cleanup(func() {
		<-restarted
		_ = first.Close()
		if second != nil {
			_ = second.Close()
		}
	})

	config := defaultRetryProviderConfig("http://"+addr) + fmt.Sprintf(`
resource "sip_federated_domain" "partner" {
  count  = %d
  domain = format("partner%%02d.example", count.index)
}
`, n)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check: func(*terraform.State) error {
				<-restarted
				mu.Lock()
				defer mu.Unlock()
				if restartErr != nil {
					return fmt.Errorf("restarting the proxy: %w", restartErr)
				}
				if atRestart < 0 || atRestart >= n {
					return fmt.Errorf("the proxy went down with %d of %d domains created: not in the middle of the apply", atRestart, n)
				}
				return apiCheck(func(ctx context.Context) error {
					l, err := client.ListFederatedDomains(ctx)
					if err != nil {
						return err
					}
					if len(l.Items) != n {
						return fmt.Errorf("%d federated domains after the apply, want %d", len(l.Items), n)
					}
					t.Logf("the proxy was down for %s with %d of %d domains created; the apply completed", down, atRestart, n)
					return nil
				})(nil)
			},
		}},
	})
}
