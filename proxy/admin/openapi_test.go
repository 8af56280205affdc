package admin_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

func TestOpenAPICopyInDocsIsCurrent(t *testing.T) {
	docs, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, admin.OpenAPI) {
		t.Fatal("docs/openapi.json differs from proxy/admin/openapi.json: run `make docs`")
	}
}

// validator checks every request the client sends and every response the proxy gives against
// the OpenAPI document.
type validator struct {
	t      *testing.T
	router routers.Router
	next   http.RoundTripper
	seen   map[string]bool // operationId -> validated
}

func (v *validator) RoundTrip(req *http.Request) (*http.Response, error) {
	v.t.Helper()
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.t.Errorf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return v.next.RoundTrip(req)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		v.t.Errorf("%s %s: request does not match the document: %v", req.Method, req.URL.Path, err)
	}
	// The validator may have rewritten the body with the document's defaults: send what the
	// client sent.
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	req.ContentLength = int64(len(reqBody))
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.t.Errorf("%s %s -> %d: response does not match the document: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	v.seen[route.Operation.OperationID+" "+resp.Status[:3]] = true
	return resp, nil
}

// validatedClient is a client of a whose every request and answer is checked against the
// OpenAPI document.
func validatedClient(t *testing.T, a *testAPI) (*api.Client, *validator, *openapi3.T) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(admin.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: a.srv.URL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	v := &validator{t: t, router: router, next: http.DefaultTransport, seen: map[string]bool{}}
	c, err := api.NewClient(a.srv.URL, opsToken, api.WithHTTPClient(&http.Client{Transport: v}), api.WithRetry(api.Retry{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return c, v, doc
}

// The answers of failures and of repeated creates match the document too: 503 and 504 from the
// store, Sipfed-Live on a write not yet live, a replayed create, a reused key.
func TestFailureTrafficMatchesOpenAPI(t *testing.T) {
	faults := &faultStore{}
	a := newTestAPIWith(t, apiOptions{
		wrapStore:  func(s store.Store) store.Store { faults.Store = s; return faults },
		frozenLive: true, liveTimeout: 10 * time.Millisecond,
	})
	c, v, _ := validatedClient(t, a)
	ctx := context.Background()
	key := api.WithIdempotencyKey("8e03978e-40d5-43e8-bc93-6894a57f9324")
	var pending bool
	in := api.FederatedDomain{Domain: "domaina.com"}
	_, _, err := c.CreateFederatedDomain(ctx, in, key, api.ReportLive(&pending))
	must(t, err)
	if !pending {
		t.Error("a create not yet live did not report Sipfed-Live: pending")
	}
	_, _, err = c.CreateFederatedDomain(ctx, in, key) // replayed
	must(t, err)
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domainb.com"}, key); !errors.Is(err, api.ErrIdempotencyKeyReused) {
		t.Fatalf("key reused: %v", err)
	}
	faults.writes = store.ErrUnavailable
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domainc.com"}); err == nil {
		t.Fatal("store unavailable: no error")
	}
	faults.writes = store.ErrCommitUnknown
	if err := c.DeleteFederatedDomain(ctx, "domaina.com", ""); !errors.Is(err, api.ErrCommitUnknown) {
		t.Fatalf("commit unknown: %v", err)
	}
	faults.reads = store.ErrUnavailable
	if _, _, err := c.GetFederatedDomain(ctx, "domaina.com"); err == nil {
		t.Fatal("store unavailable on a read: no error")
	}
	for _, want := range []string{"createFederatedDomain 201", "createFederatedDomain 422", "createFederatedDomain 503", "deleteFederatedDomain 504", "getFederatedDomain 503"} {
		if !v.seen[want] {
			t.Errorf("%s was not exercised", want)
		}
	}
}

func TestLiveTrafficMatchesOpenAPI(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	c, v, doc := validatedClient(t, a)

	d, etag, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com", Type: api.DomainTypeAOL})
	must(t, err)
	_, _, err = c.CreateFederatedDomain(ctx, d)
	if err == nil {
		t.Fatal("duplicate create succeeded")
	}
	_, _, err = c.GetFederatedDomain(ctx, "domaina.com")
	must(t, err)
	d.Description = "changed"
	_, etag, err = c.UpdateFederatedDomain(ctx, d, etag)
	must(t, err)
	_, err = c.ListFederatedDomains(ctx)
	must(t, err)

	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop = ".com.domaina.*", "192.0.2.1"
	r, rEtag, err := c.CreateStaticRoute(ctx, r, api.WithIdempotencyKey("route-1"))
	must(t, err)
	if again, _, err := c.CreateStaticRoute(ctx, r, api.WithIdempotencyKey("route-1")); err != nil || again.ID != r.ID {
		t.Fatalf("replayed create: %+v %v, want route %s", again, err, r.ID)
	}
	r.Weight = 0
	_, rEtag, err = c.UpdateStaticRoute(ctx, r, rEtag)
	must(t, err)
	_, _, err = c.GetStaticRoute(ctx, r.ID)
	must(t, err)
	_, err = c.ListStaticRoutes(ctx)
	must(t, err)

	_, sEtag, err := c.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "edge.domaina.com", Description: "A's edge"})
	must(t, err)
	_, err = c.ListTLSPeerSubjects(ctx)
	must(t, err)
	_, sEtag, err = c.UpdateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "edge.domaina.com", Description: "A's new edge"}, sEtag)
	must(t, err)
	_, _, err = c.GetTLSPeerSubject(ctx, "edge.domaina.com")
	must(t, err)
	_, _, err = c.GetFederationRoutingFQDN(ctx)
	must(t, err)
	_, fEtag, err := c.SetFederationRoutingFQDN(ctx, "imp-public.example.com", "")
	must(t, err)
	_, _, err = c.GetFederationService(ctx)
	must(t, err)
	_, _, err = c.SetFederationService(ctx, false, "")
	must(t, err)
	_, err = c.ListIncomingACLs(ctx)
	must(t, err)
	_, err = c.ExplainRoute(ctx, "sip:bob@domaina.com")
	must(t, err)
	_, err = c.ExplainRoute(ctx, "sip:bob@nowhere.com")
	must(t, err)
	_, err = c.GetNode(ctx)
	must(t, err)
	_, err = c.GetCluster(ctx)
	must(t, err)
	_, err = c.ListChanges(ctx, 0)
	must(t, err)
	backup, err := http.NewRequest(http.MethodGet, a.srv.URL+"/v1/backup", nil)
	must(t, err)
	backup.Header.Set("Authorization", "Bearer "+opsToken)
	resp, err := (&http.Client{Transport: v}).Do(backup)
	must(t, err)
	_ = resp.Body.Close()

	_, _, err = c.UpdateFederatedDomain(ctx, d, `"1"`) // stale: 412
	if err == nil {
		t.Fatal("stale update succeeded")
	}
	must(t, c.ResetFederationRoutingFQDN(ctx, fEtag))
	must(t, c.DeleteTLSPeerSubject(ctx, "edge.domaina.com", sEtag))
	must(t, c.DeleteStaticRoute(ctx, r.ID, rEtag))
	must(t, c.DeleteFederatedDomain(ctx, "domaina.com", etag))
	if _, _, err := c.GetFederatedDomain(ctx, "domaina.com"); err == nil {
		t.Fatal("deleted domain still readable")
	}
	_, _, err = c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "bad_domain"})
	if err == nil {
		t.Fatal("invalid domain accepted")
	}

	// Every operation of the document was exercised, except serving the document itself.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "getOpenAPI" {
				continue
			}
			found := false
			for k := range v.seen {
				if len(k) > len(op.OperationID) && k[:len(op.OperationID)+1] == op.OperationID+" " {
					found = true
				}
			}
			if !found {
				t.Errorf("%s %s (%s) was not exercised", method, path, op.OperationID)
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
