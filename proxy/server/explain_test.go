package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/dnstest"
	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// GET /v1/route through a whole proxy whose DNS server fails: the explanation says 503 with a
// retry_after, for a partner that DNS says does not exist 404 without one, and both answers
// match the OpenAPI document.
func TestExplainTellsDNSOutageFromMissingPartner(t *testing.T) {
	resolver := dnstest.ServeUDP(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		if r.Question[0].Name == "_sipfederationtls._tcp.dnsdown.example." {
			m.Rcode = dns.RcodeServerFailure
		}
		_ = w.WriteMsg(m)
	}))

	p := servertest.Start(t, servertest.WithDNS(resolver))
	ctx := context.Background()
	for _, d := range []string{"dnsdown.example", "gone.example"} {
		if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: d}); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := openapi3.NewLoader().LoadFromData(admin.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["RouteExplanation"].Value
	for _, tc := range []struct {
		uri    string
		status int
		retry  bool
	}{
		{"sip:bob@dnsdown.example", 503, true},
		{"sip:bob@gone.example", 404, false},
	} {
		req, _ := http.NewRequest(http.MethodGet, p.AdminURL()+api.PathRoute+"?uri="+url.QueryEscape(tc.uri), nil)
		req.Header.Set("Authorization", "Bearer "+p.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ex api.RouteExplanation
		if err := json.Unmarshal(body, &ex); err != nil {
			t.Fatal(err)
		}
		if ex.Status != tc.status || (ex.RetryAfter > 0) != tc.retry {
			t.Fatalf("%s: status %d retry_after %d: %s", tc.uri, ex.Status, ex.RetryAfter, body)
		}
		if tc.retry && (ex.RetryAfter < 1 || time.Duration(ex.RetryAfter)*time.Second > 10*time.Second) {
			t.Fatalf("%s: retry_after %d, want the negative cache's remaining time (at most 10s)", tc.uri, ex.RetryAfter)
		}
		var generic any
		_ = json.Unmarshal(body, &generic)
		if err := schema.VisitJSON(generic); err != nil {
			t.Fatalf("%s: the explanation does not match the OpenAPI document: %v\n%s", tc.uri, err, body)
		}
	}
}
