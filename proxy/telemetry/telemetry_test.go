package telemetry_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

var subsystems = []string{telemetry.SubsystemSIP, telemetry.SubsystemTLS, telemetry.SubsystemDNS, telemetry.SubsystemAdmin,
	telemetry.SubsystemSnapshot, telemetry.SubsystemStore, telemetry.SubsystemCluster, telemetry.SubsystemNextHop,
	telemetry.SubsystemOverload, telemetry.SubsystemTransport}

// Every declared name is namespace_subsystem_name with a declared subsystem, in Prometheus's
// conventions (a counter ends in _total, a unit is a base unit), and declared once.
func TestMetricNamesFollowTheConvention(t *testing.T) {
	for n, labels := range telemetry.Metrics {
		for _, l := range labels {
			if !slices.Contains(telemetry.Labels, l) {
				t.Errorf("%s: label %q is not declared", n, l)
			}
		}
		rest, ok := strings.CutPrefix(n, telemetry.Namespace+"_")
		if !ok || !slices.ContainsFunc(subsystems, func(s string) bool { return strings.HasPrefix(rest, s+"_") }) {
			t.Errorf("%s is not %s_<subsystem>_<name> with a declared subsystem", n, telemetry.Namespace)
		}
		for _, bad := range []string{"_ms", "_milliseconds", "_bytes_total_total", "transport"} {
			if strings.Contains(n, bad) {
				t.Errorf("%s: %q is not in the vocabulary (base units; protocol, not transport)", n, bad)
			}
		}
	}
	for _, l := range telemetry.Labels {
		if l == "transport" || l == "subject" {
			t.Errorf("label %q: one concept, one name (protocol; peer_subject or peer_identities)", l)
		}
	}
	// The constructors keep the whole name.
	c := telemetry.NewCounter(telemetry.MetricSIPShed, "h")
	reg := prometheus.NewRegistry()
	if err := telemetry.Register(reg, c); err != nil {
		t.Fatal(err)
	}
	if err := telemetry.Register(reg, telemetry.NewCounter(telemetry.MetricSIPShed, "h")); err == nil {
		t.Fatal("a second registration of one name: no error")
	}
	mfs, _ := reg.Gather()
	if len(mfs) != 1 || mfs[0].GetName() != telemetry.MetricSIPShed {
		t.Fatalf("gathered %v", mfs)
	}
}

// The example dashboard queries only declared metrics, and shows the SIP latency histogram and
// the TLS handshake failures by side and reason.
func TestDashboardUsesDeclaredMetrics(t *testing.T) {
	data, err := os.ReadFile("../../examples/grafana/sipfed-proxy.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	name := regexp.MustCompile(`sipfed_[a-z_]+`)
	used := map[string]bool{}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			for _, n := range name.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(n, suffix); ok && hasMetric(base) {
						n = base
					}
				}
				used[n] = true
				if !hasMetric(n) {
					t.Errorf("the dashboard queries %s, not declared in proxy/telemetry", n)
				}
			}
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"sipfed_sip_transaction_duration_seconds_bucket", "by (le, direction, protocol)",
		"sipfed_tls_handshake_failures_total", "by (side, reason)",
		"sipfed_tls_certificate_expiry_timestamp_seconds",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the dashboard has no query with %q", want)
		}
	}
	if len(used) < 15 {
		t.Errorf("the dashboard shows %d metrics", len(used))
	}
}

func hasMetric(name string) bool {
	_, ok := telemetry.Metrics[name]
	return ok
}
