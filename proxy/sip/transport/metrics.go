package transport

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

type metrics struct {
	connsVec    *prometheus.GaugeVec
	conns       [2][3]prometheus.Gauge // side, protocol
	refused     *prometheus.CounterVec
	parseErrors *prometheus.CounterVec
	handshakes  *prometheus.CounterVec
	partial     prometheus.Gauge
	udpDrops    [2]prometheus.Counter // by side
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connsVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: telemetry.MetricSIPConnections,
			Help: "Open TCP and TLS connections, by side and protocol.",
		}, []string{telemetry.LabelSide, telemetry.LabelProtocol}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricSIPLimitRefusals,
			Help: "Connections closed or messages refused by a transport limit, by side and reason (per_address_limit, connection_limit, partial_budget, too_large, framing, message_timeout, write_queue).",
		}, []string{telemetry.LabelSide, telemetry.LabelReason}),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricSIPParseErrors,
			Help: "Messages that did not parse, by side and the status they were answered with (0: dropped).",
		}, []string{telemetry.LabelSide, telemetry.LabelStatus}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricTLSHandshakeFailures,
			Help: "TLS handshakes that failed, by side and reason (handshake: protocol, timeout or no certificate; chain: the chain does not verify against --tls-ca; peer_subject: the identity is not a TLS peer subject).",
		}, []string{telemetry.LabelSide, telemetry.LabelReason}),
		partial: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: telemetry.MetricSIPPartialBytes,
			Help: "Bytes held for messages not yet received whole, all connections together.",
		}),
	}
	drops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: telemetry.MetricSIPUDPDrops,
		Help: "Datagrams the kernel dropped because a UDP socket's receive buffer was full, by side: requests and responses lost before the proxy saw them (their senders retransmit); the proxy is far behind, or stopped reading.",
	}, []string{telemetry.LabelSide})
	for s := Internal; s <= External; s++ {
		for p := UDP; p <= TLS; p++ {
			m.conns[s][p] = m.connsVec.WithLabelValues(s.String(), p.String())
		}
		m.udpDrops[s] = drops.WithLabelValues(s.String())
	}
	return m, telemetry.Register(reg, m.connsVec, m.refused, m.parseErrors, m.handshakes, m.partial, drops)
}

// HandshakeFailed counts a failed TLS handshake; the identity checks of package identity call
// it through the relay with their own reasons.
func (t *Transport) HandshakeFailed(side Side, reason string) {
	t.m.handshakes.WithLabelValues(side.String(), reason).Inc()
}
