package discovery

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the resolver's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	lookups   *prometheus.CounterVec   // type, result: what each lookup came to, cache hits apart
	exchanges *prometheus.HistogramVec // transport: time of one query to one server
	truncated prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *cache) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sipfed", Subsystem: "dns", Name: "lookups_total",
			Help: "DNS lookups by record type and result (cached, noerror, nxdomain, servfail, timeout, no_records, error).",
		}, []string{"type", "result"}),
		exchanges: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sipfed", Subsystem: "dns", Name: "exchange_duration_seconds",
			Help:    "Duration of one DNS query to one server, by transport.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"transport"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sipfed", Subsystem: "dns", Name: "truncated_total",
			Help: "UDP answers with the TC bit, retried over TCP.",
		}),
	}
	entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sipfed", Subsystem: "dns", Name: "cache_entries",
		Help: "Answers in the DNS cache, positive and negative.",
	}, func() float64 { return float64(c.len()) })
	for _, col := range []prometheus.Collector{m.lookups, m.exchanges, m.truncated, entries} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) lookup(qtype, result string) {
	if m != nil {
		m.lookups.WithLabelValues(qtype, result).Inc()
	}
}

func (m *metrics) exchange(transport string, d time.Duration) {
	if m != nil {
		m.exchanges.WithLabelValues(transport).Observe(d.Seconds())
	}
}

func (m *metrics) truncation() {
	if m != nil {
		m.truncated.Inc()
	}
}
