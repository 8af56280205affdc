package admin_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// A write that is durable but not yet live within LiveTimeout still answers 2xx, saying so in
// Sipfed-Live: an error status would have a client retry, and so repeat, a write that happened.
func TestCommittedWriteNotYetLiveAnswers2xx(t *testing.T) {
	a := newTestAPIWith(t, apiOptions{frozenLive: true, liveTimeout: 20 * time.Millisecond})
	pending := func(r response) {
		t.Helper()
		if got := r.header.Get("Sipfed-Live"); got != "pending" {
			t.Errorf("Sipfed-Live = %q, want pending", got)
		}
	}
	r := a.do(http.MethodPost, api.PathStaticRoutes, opsToken, []byte(`{"destination_pattern":".com.partner.*","next_hop":"192.0.2.1"}`), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create of a route not yet live: %d %s, want 201", r.status, r.body)
	}
	pending(r)
	r = a.do(http.MethodPost, api.PathFederatedDomains, opsToken, []byte(`{"domain":"partner.com"}`), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create of a domain not yet live: %d %s, want 201", r.status, r.body)
	}
	pending(r)
	r = a.do(http.MethodPut, api.PathFederatedDomains+"/partner.com", opsToken, []byte(`{"description":"v2"}`),
		map[string]string{"If-Match": r.header.Get("ETag")})
	if r.status != http.StatusOK {
		t.Fatalf("update not yet live: %d %s, want 200", r.status, r.body)
	}
	pending(r)
	r = a.do(http.MethodPut, api.PathFederationService, opsToken, []byte(`{"enabled":false}`), nil)
	if r.status != http.StatusOK {
		t.Fatalf("singleton write not yet live: %d %s, want 200", r.status, r.body)
	}
	pending(r)
	r = a.do(http.MethodDelete, api.PathFederatedDomains+"/partner.com", opsToken, nil, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("delete not yet live: %d %s, want 204", r.status, r.body)
	}
	pending(r)
}

// The failure: with retries on, one create of a route stored four routes and failed; a
// create of a domain failed 409 and an update 412, each for its own write.
func TestClientDoesNotRepeatWritesNotYetLive(t *testing.T) {
	a := newTestAPIWith(t, apiOptions{frozenLive: true, liveTimeout: 20 * time.Millisecond})
	c, err := api.NewClient(a.srv.URL, opsToken, api.WithRetry(api.Retry{Attempts: 4, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop = ".com.partner.*", "192.0.2.1"
	if _, _, err := c.CreateStaticRoute(ctx, r); err != nil {
		t.Errorf("create route: %v", err)
	}
	routes, err := a.client.ListStaticRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes.Items) != 1 {
		t.Errorf("one create stored %d routes, want 1", len(routes.Items))
	}
	d, etag, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.com"})
	if err != nil {
		t.Fatalf("create domain: %v", err)
	}
	d.Description = "v2"
	if _, _, err := c.UpdateFederatedDomain(ctx, d, etag); err != nil {
		t.Errorf("update with If-Match: %v", err)
	}
}
