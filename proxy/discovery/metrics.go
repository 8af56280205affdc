package discovery

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// metrics are the resolver's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	lookups   *prometheus.CounterVec   // type, result: what each lookup came to, cache hits apart
	exchanges *prometheus.HistogramVec // protocol: time of one query to one server
	truncated prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *cache) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		lookups: telemetry.NewCounterVec(telemetry.MetricDNSLookups,
			"DNS lookups by record type and result (cached, noerror, nxdomain, servfail, timeout, refused, server_error, no_records, error).",
			telemetry.LabelType, telemetry.LabelResult),
		exchanges: telemetry.NewHistogramVec(telemetry.MetricDNSExchangeDuration,
			"Duration of one DNS query to one server, by protocol (udp, tcp).",
			[]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, telemetry.LabelProtocol),
		truncated: telemetry.NewCounter(telemetry.MetricDNSTruncated, "UDP answers with the TC bit, retried over TCP."),
	}
	entries := telemetry.NewGaugeFunc(telemetry.MetricDNSCacheEntries, "Answers in the DNS cache, positive and negative.",
		func() float64 { return float64(c.len()) })
	if err := telemetry.Register(reg, m.lookups, m.exchanges, m.truncated, entries); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) lookup(qtype, result string) {
	if m != nil {
		m.lookups.WithLabelValues(qtype, result).Inc()
	}
}

func (m *metrics) exchange(protocol string, d time.Duration) {
	if m != nil {
		m.exchanges.WithLabelValues(protocol).Observe(d.Seconds())
	}
}

func (m *metrics) truncation() {
	if m != nil {
		m.truncated.Inc()
	}
}
