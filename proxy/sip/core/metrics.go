package core

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

type sideCounters [2]prometheus.Counter

func (s *sideCounters) inc(side transport.Side) { s[side].Inc() }

type metrics struct {
	requestsVec  *prometheus.CounterVec
	requests     sideCounters
	responsesVec *prometheus.CounterVec
	byClass      [2][7]prometheus.Counter
	failovers    *prometheus.CounterVec
	refused      *prometheus.CounterVec
	shed         *prometheus.CounterVec
	inflight     prometheus.Gauge
	overloaded   prometheus.Gauge
	queueDelay   prometheus.Gauge
	duration     *prometheus.HistogramVec
	durations    [2][3]prometheus.Observer // direction (0 inbound, 1 outbound), protocol
	stray        prometheus.Counter
	hopFailures  *prometheus.CounterVec
	hopsDown     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requestsVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricSIPRequests,
			Help: "SIP requests that opened a transaction or were refused, by the side they came from.",
		}, []string{telemetry.LabelSide}),
		responsesVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricSIPResponses,
			Help: "Final SIP responses sent, by the side they went to and status class (2xx...6xx).",
		}, []string{telemetry.LabelSide, telemetry.LabelClass}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricSIPFailovers,
			Help: "Branches given up on, by reason (transport, timeout, 503).",
		}, []string{telemetry.LabelReason}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricSIPRefused,
			Help: "Requests the proxy answered itself with a final response, by side and status.",
		}, []string{telemetry.LabelSide, telemetry.LabelStatus}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricOverloadShed,
			Help: "New requests refused with 503 at admission, by reason (queue_delay, scheduling_delay, in_flight, draining).",
		}, []string{telemetry.LabelReason}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: telemetry.MetricSIPInflight,
			Help: "Transactions that have no final response yet.",
		}),
		overloaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: telemetry.MetricOverloadActive,
			Help: "1 while admission refuses new requests because they waited too long to be read.",
		}),
		queueDelay: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: telemetry.MetricOverloadQueueDelay,
			Help: "The least time a request waited to be read over the last interval (UDP: in the socket buffer too).",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    telemetry.MetricSIPTransactionDuration,
			Help:    "Time from a request's arrival to its final response, by direction and the protocol it arrived on.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{telemetry.LabelDirection, telemetry.LabelProtocol}),
		stray: prometheus.NewCounter(prometheus.CounterOpts{
			Name: telemetry.MetricSIPStrayResponses,
			Help: "Responses that matched no branch of this proxy (late, forged or for another), dropped.",
		}),
		hopFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricNextHopFailures,
			Help: "Next hops that failed a request, by reason (transport, timeout).",
		}, []string{telemetry.LabelReason}),
		hopsDown: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: telemetry.MetricNextHopDown,
			Help: "Next hops skipped because they failed recently; each is probed with OPTIONS before reuse.",
		}),
	}
	for s := transport.Internal; s <= transport.External; s++ {
		m.requests[s] = m.requestsVec.WithLabelValues(s.String())
		for c := 1; c <= 6; c++ {
			m.byClass[s][c] = m.responsesVec.WithLabelValues(s.String(), string(rune('0'+c))+"xx")
		}
	}
	for d, dir := range []string{telemetry.DirInbound, telemetry.DirOutbound} {
		for p := transport.UDP; p <= transport.TLS; p++ {
			m.durations[d][p] = m.duration.WithLabelValues(dir, p.String())
		}
	}
	return m, telemetry.Register(reg, m.requestsVec, m.responsesVec, m.failovers, m.refused, m.shed,
		m.inflight, m.overloaded, m.queueDelay, m.duration, m.stray, m.hopFailures, m.hopsDown)
}

func (m *metrics) response(side transport.Side, status int) {
	if c := status / 100; c >= 1 && c <= 6 {
		m.byClass[side][c].Inc()
	}
}

func (m *metrics) observe(stx *serverTx) {
	d := 1
	if stx.verdict != nil && stx.verdict.Flow.Direction == telemetry.DirInbound {
		d = 0
	}
	m.durations[d][stx.src.Proto].Observe(time.Since(stx.started).Seconds())
}

// logTarget is a logger for a line about a branch: request-scoped (Call-ID, branch) and naming
// the next hop.
func (c *Core) logTarget(stx *serverTx, t *Target) *slog.Logger {
	attrs := []any{
		telemetry.KeyCallID, stx.req.Str(stx.req.CallID),
		telemetry.KeyMethod, stx.req.Str(stx.req.Method),
		telemetry.KeyNextHop, t.Addr.String(),
		telemetry.KeyProtocol, t.Proto.String(),
	}
	if stx.verdict != nil {
		if f := stx.verdict.Flow; f.Direction != "" {
			attrs = append(attrs, telemetry.KeyDirection, f.Direction)
		}
		if f := stx.verdict.Flow; f.Domain != "" {
			attrs = append(attrs, telemetry.KeyDomain, f.Domain)
		}
	}
	if t.Name != "" {
		attrs = append(attrs, telemetry.KeyNextHopName, t.Name)
	}
	if t.Step != "" {
		attrs = append(attrs, telemetry.KeyStep, t.Step)
	}
	if t.RouteID != "" {
		attrs = append(attrs, telemetry.KeyRouteID, t.RouteID)
	}
	return c.log.With(attrs...)
}
