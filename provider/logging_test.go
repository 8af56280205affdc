package provider

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// Every attempt of every API call is logged at DEBUG with its method, path, status, duration and
// attempt number; the token appears nowhere, not even in a failed call's error.
func TestAPICallsAreLogged(t *testing.T) {
	p := servertest.Start(t)
	s := settings{endpoint: p.Endpoint, token: p.Token, timeout: defaultRequestTimeout, attempts: 1}
	c, err := s.client("test")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx := tflogtest.RootLogger(context.Background(), &out)
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.example"}, api.WithIdempotencyKey("k")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.GetFederatedDomain(ctx, "missing.example"); err == nil {
		t.Fatal("missing domain found")
	}
	logged := out.String()
	entries, err := tflogtest.MultilineJSONDecode(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d log entries, want one per call: %v", len(entries), entries)
	}
	want := []map[string]any{
		{"@level": "debug", "method": "POST", "path": "/v1/federated-domains", "status": float64(201), "attempt": float64(1)},
		{"@level": "debug", "method": "GET", "path": "/v1/federated-domains/missing.example", "status": float64(404), "attempt": float64(1), "code": "not_found"},
	}
	for i, w := range want {
		for k, v := range w {
			if entries[i][k] != v {
				t.Errorf("entry %d: %s = %v, want %v (%v)", i, k, entries[i][k], v, entries[i])
			}
		}
		if _, ok := entries[i]["duration_ms"]; !ok {
			t.Errorf("entry %d has no duration_ms: %v", i, entries[i])
		}
	}
	if _, ok := entries[1]["error"]; !ok {
		t.Errorf("the failed call's entry has no error: %v", entries[1])
	}
	if logged == "" || strings.Contains(logged, p.Token) || strings.Contains(logged, "Bearer") {
		t.Fatalf("the token is in the log:\n%s", logged)
	}
}
