package main

import (
	"context"
	"strings"
	"testing"

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
	if err := route([]string{"--endpoint", p.endpoint, "--admin-token-file", tokenFile, "sip:eve@stranger.com"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "result: 403") {
		t.Errorf("a non-federated domain is not shown as refused:\n%s", out.String())
	}

	t.Setenv("SIPFED_TOKEN", "wrong-token-0123456789abc")
	if err := route([]string{"--endpoint", p.endpoint, "sip:bob@domaina.com"}, &out); err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "token") {
		t.Errorf("a wrong token: err = %v", err)
	}
}
