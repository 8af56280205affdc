package core

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// dir is a transaction's direction as its request's side says it: from the external side a
// request comes in from a partner.
func dir(side transport.Side) int {
	if side == transport.External {
		return 0
	}
	return 1
}

var dirNames = [2]string{telemetry.DirInbound, telemetry.DirOutbound}

type metrics struct {
	requestsVec  *prometheus.CounterVec
	requests     [2]prometheus.Counter
	responsesVec *prometheus.CounterVec
	byClass      [2][7]prometheus.Counter
	failovers    *prometheus.CounterVec
	refused      *prometheus.CounterVec
	shed         *prometheus.CounterVec
	inflight     prometheus.Gauge
	overloaded   prometheus.Gauge
	queueDelay   prometheus.Gauge
	duration     *prometheus.HistogramVec
	durations    [2][3]prometheus.Observer // direction, protocol
	stray        prometheus.Counter
	hopFailures  *prometheus.CounterVec
	hopsDown     prometheus.Gauge

	// Children of the counters a refusal adds to, made once: under overload most requests
	// are refused, and WithLabelValues hashes its labels (and Itoa the status) every time.
	shedBy     map[string]prometheus.Counter
	refused503 [2]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requestsVec: telemetry.NewCounterVec(telemetry.MetricSIPRequests,
			"SIP requests that opened a transaction or were refused, by direction (inbound: from partners).",
			telemetry.LabelDirection),
		responsesVec: telemetry.NewCounterVec(telemetry.MetricSIPResponses,
			"Final SIP responses sent upstream, by direction and status class (2xx...6xx).",
			telemetry.LabelDirection, telemetry.LabelClass),
		failovers: telemetry.NewCounterVec(telemetry.MetricSIPFailovers,
			"Branches given up on, by reason (transport, timeout, 503).", telemetry.LabelReason),
		refused: telemetry.NewCounterVec(telemetry.MetricSIPRefused,
			"Requests the proxy answered itself with a final response, by direction and status.",
			telemetry.LabelDirection, telemetry.LabelStatus),
		shed: telemetry.NewCounterVec(telemetry.MetricSIPShed,
			"New requests answered 503 at admission, by reason (queue_delay: it waited past the target in an overloaded queue; standing_queue: a share of a stream's requests while its receive queue does not drain; scheduling_delay, in_flight, draining).",
			telemetry.LabelReason),
		inflight: telemetry.NewGauge(telemetry.MetricSIPInFlight, "Transactions that have no final response yet."),
		overloaded: telemetry.NewGauge(telemetry.MetricSIPOverload,
			"1 while admission refuses new requests because requests keep waiting too long to be read."),
		queueDelay: telemetry.NewGauge(telemetry.MetricSIPQueueDelay,
			"The least time a request waited to be handled over the last interval (UDP: from the kernel's receive time)."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    telemetry.MetricSIPTransactionDuration,
			Help:    "Time from a request's arrival to its final response, by direction and the protocol it arrived on.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{telemetry.LabelDirection, telemetry.LabelProtocol}),
		stray: telemetry.NewCounter(telemetry.MetricSIPStray,
			"Responses that matched no branch of this proxy (late, forged or for another), dropped."),
		hopFailures: telemetry.NewCounterVec(telemetry.MetricNextHopFailures,
			"Next hops that failed a request, by reason (transport, timeout).", telemetry.LabelReason),
		hopsDown: telemetry.NewGauge(telemetry.MetricNextHopDown,
			"Next hops skipped because they failed recently; each is probed with OPTIONS before reuse."),
	}
	m.shedBy = make(map[string]prometheus.Counter)
	for _, r := range []string{telemetry.ReasonQueueDelay, telemetry.ReasonStandingQueue, telemetry.ReasonSchedulingDelay,
		telemetry.ReasonInFlight, telemetry.ReasonDraining} {
		m.shedBy[r] = m.shed.WithLabelValues(r)
	}
	for d, name := range dirNames {
		m.refused503[d] = m.refused.WithLabelValues(name, "503")
		m.requests[d] = m.requestsVec.WithLabelValues(name)
		for c := 1; c <= 6; c++ {
			m.byClass[d][c] = m.responsesVec.WithLabelValues(name, string(rune('0'+c))+"xx")
		}
		for p := transport.UDP; p <= transport.TLS; p++ {
			m.durations[d][p] = m.duration.WithLabelValues(name, p.String())
		}
	}
	return m, telemetry.Register(reg, m.requestsVec, m.responsesVec, m.failovers, m.refused, m.shed,
		m.inflight, m.overloaded, m.queueDelay, m.duration, m.stray, m.hopFailures, m.hopsDown)
}

func (m *metrics) response(side transport.Side, status int) {
	if c := status / 100; c >= 1 && c <= 6 {
		m.byClass[dir(side)][c].Inc()
	}
}

// shedOne counts a request refused at admission for reason.
func (m *metrics) shedOne(reason string) {
	if c, ok := m.shedBy[reason]; ok {
		c.Inc()
		return
	}
	m.shed.WithLabelValues(reason).Inc()
}

// refusedOne counts a request the core answered itself with status.
func (m *metrics) refusedOne(side transport.Side, status int) {
	if status == 503 {
		m.refused503[dir(side)].Inc()
		return
	}
	m.refused.WithLabelValues(dirNames[dir(side)], strconv.Itoa(status)).Inc()
}

func (m *metrics) observe(stx *serverTx) {
	m.durations[dir(stx.src.Side)][stx.src.Proto].Observe(time.Duration(monoNow() - stx.started).Seconds())
}

// logTarget is a logger for a line about a branch: request-scoped (Call-ID, branch) and naming
// the next hop.
func (c *Core) logTarget(stx *serverTx, t *Target) *slog.Logger {
	attrs := []slog.Attr{
		slog.String(telemetry.KeyCallID, string(stx.up.CallID())),
		slog.String(telemetry.KeyMethod, string(stx.up.Method())),
		slog.String(telemetry.KeyNextHop, t.Addr.String()),
		slog.String(telemetry.KeyProtocol, t.Proto.String()),
	}
	if f := stx.flow; f.Direction != "" {
		attrs = append(attrs, slog.String(telemetry.KeyDirection, f.Direction))
	}
	if f := stx.flow; f.Domain != "" {
		attrs = append(attrs, slog.String(telemetry.KeyDomain, f.Domain))
	}
	if t.Name != "" {
		attrs = append(attrs, slog.String(telemetry.KeyNextHopName, t.Name))
	}
	if t.Step != "" {
		attrs = append(attrs, slog.String(telemetry.KeyStep, t.Step))
	}
	if t.RouteID != "" {
		attrs = append(attrs, slog.String(telemetry.KeyRouteID, t.RouteID))
	}
	return slog.New(c.log.Handler().WithAttrs(attrs))
}
