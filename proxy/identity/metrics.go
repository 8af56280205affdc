package identity

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

var (
	descCertExpiry = telemetry.NewDesc(telemetry.MetricTLSCertificateExpiry,
		"Unix time the proxy's certificate (--tls-cert) in use expires; a reload (SIGHUP) moves it.")
	descCAExpiry = telemetry.NewDesc(telemetry.MetricTLSCAExpiry,
		"Unix time the first certificate of the CA bundle (--tls-ca) in use expires.")
	descReloads = telemetry.NewDesc(telemetry.MetricTLSReloads,
		"Reloads of the TLS certificate, key and CA bundle (SIGHUP), by result; a failed one keeps the material in use.",
		telemetry.LabelResult)
)

// Collector reports the material in use: when the certificate and the CA bundle expire, read at
// each scrape so that a reload shows at once, and how reloads went. Register it on the proxy's
// registry (telemetry.Register).
func (m *Material) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Material }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCertExpiry
	ch <- descCAExpiry
	ch <- descReloads
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	k := c.m.cur.Load()
	ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(k.cert.Leaf.NotAfter.Unix()))
	if !k.caNotAfter.IsZero() {
		ch <- prometheus.MustNewConstMetric(descCAExpiry, prometheus.GaugeValue, float64(k.caNotAfter.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(c.m.reloadOK.Load()), telemetry.ResultOK)
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(c.m.reloadKO.Load()), telemetry.ResultError)
}
