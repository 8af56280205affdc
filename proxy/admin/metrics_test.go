package admin_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
)

// Seen in issue 12: the admin API registered its metrics with MustRegister and panicked when a
// registry already held them. A second API on one registry is an error the caller gets back.
func TestMetricsRegistrationErrorIsReturned(t *testing.T) {
	reg := prometheus.NewRegistry()
	live := state.NewLive(routing.Build(&routing.Config{}, routing.Options{}))
	tokens, err := admin.NewTokens(map[string]string{"ops": opsToken})
	if err != nil {
		t.Fatal(err)
	}
	cfg := admin.Config{Live: live, Tokens: tokens, Registerer: reg, Gatherer: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var second error
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("a second registration panicked: %v", v)
			}
		}()
		if _, err := admin.New(cfg); err != nil {
			t.Fatalf("first registration: %v", err)
		}
		_, second = admin.New(cfg)
	}()
	if second == nil || !strings.Contains(second.Error(), "metrics") {
		t.Fatalf("second registration on one registry: err = %v, want an error about metrics", second)
	}
}
