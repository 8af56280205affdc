package server_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// The Go runtime's and the process's standard collectors keep their own names.
var standardPrefixes = []string{"go_", "process_"}

// pendingLabels are metrics whose owner changes their labels to the declared ones in their own
// change: a difference is reported, not failed. Remove an entry when it is converted.
var pendingLabels = map[string]string{
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]*)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
)

// Issue 12: observability had three conventions. Every metric a running proxy registers (all of
// its packages, the relay's included, whatever they become) has a name and labels declared in
// proxy/telemetry: the test walks the real registry's descriptions, so a metric that was never
// observed is checked too, and then what /metrics serves after some traffic.
func TestEveryMetricIsDeclaredInTelemetry(t *testing.T) {
	ca := testpki.MustCA("ca")
	leaf := ca.MustIssue(testpki.LeafOptions{CN: "imp1.example.com", DNS: []string{"imp1.example.com"}})
	m, err := identity.New(leaf.TLSCertificate(), ca.Pool(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	internal, err := relay.ParseNextHop("sip:127.0.0.1:9;transport=tcp")
	if err != nil {
		t.Fatal(err)
	}
	p := servertest.Start(t, servertest.WithSIP(relay.Config{
		Internal:        []relay.Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}},
		External:        []relay.Listener{{Transport: "tls", Addr: "127.0.0.1:0"}},
		InternalNextHop: internal,
		TLS:             m,
	}))
	// Some traffic, so that vectors have children: an admin write, an explanation (DNS), a
	// SIP request.
	ctx := context.Background()
	if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.ExplainRoute(ctx, "sip:bob@domaina.com"); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, "tcp", p.Relay().InternalAddrs()[0].Addr)
	if res, err := s.message(ctx, "sip:alice@stranger.com"); err != nil || res.StatusCode != sip.StatusForbidden {
		t.Fatalf("MESSAGE: %v %v", res, err)
	}

	declared := map[string]bool{}
	for n := range telemetry.Metrics {
		declared[n] = true
	}
	standard := func(name string) bool {
		return slices.ContainsFunc(standardPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
	}

	ch := make(chan *prometheus.Desc)
	go func() { p.Registry().Describe(ch); close(ch) }()
	seen := map[string]bool{}
	for d := range ch {
		ds := d.String()
		mm := descName.FindStringSubmatch(ds)
		if mm == nil {
			t.Fatalf("cannot read the name of %s", ds)
		}
		name := mm[1]
		seen[name] = true
		if standard(name) {
			continue
		}
		if !declared[name] {
			t.Errorf("metric %s is not declared in proxy/telemetry", name)
		}
		var got []string
		if lm := descLabels.FindStringSubmatch(ds); lm != nil && lm[1] != "" {
			got = strings.Split(lm[1], ",")
		}
		if want := telemetry.Metrics[name]; declared[name] && !slices.Equal(got, want) {
			if why, ok := pendingLabels[name]; ok {
				t.Logf("pending: metric %s has labels %v, declared %v: %s", name, got, want, why)
			} else {
				t.Errorf("metric %s has labels %v; proxy/telemetry declares %v", name, got, want)
			}
		}
	}
	for _, want := range []string{telemetry.MetricAdminRequests, telemetry.MetricDNSLookups, telemetry.MetricSnapshotRevision,
		telemetry.MetricTLSCertificateExpiry, telemetry.MetricSIPRequests} {
		if !seen[want] {
			t.Errorf("%s is not registered: the walk missed a package", want)
		}
	}

	// What /metrics serves: every family name (histograms and summaries add suffixes).
	resp, err := http.Get(p.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := 0
	for _, line := range strings.Split(string(body), "\n") {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		served++
		if !standard(name) && !declared[name] {
			t.Errorf("/metrics serves %s, not declared in proxy/telemetry", name)
		}
	}
	if served < 10 {
		t.Fatalf("/metrics served %d families:\n%s", served, body)
	}
}
