package relay

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Directions of a request, as metric labels and log values.
const (
	dirInbound  = "inbound"  // from a partner, toward the internal next hop
	dirOutbound = "outbound" // from the internal side, toward a partner
)

type metrics struct {
	requests   *prometheus.CounterVec
	responses  *prometheus.CounterVec
	failovers  *prometheus.CounterVec
	handshakes *prometheus.CounterVec
	shed       prometheus.Counter
	inflight   prometheus.Gauge
	overloaded prometheus.Gauge

	// Children looked up once: WithLabelValues hashes its labels on every call.
	reqIn, reqOut prometheus.Counter
	byClass       map[string]*[7]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sipfed", Subsystem: "sip", Name: "requests_total",
			Help: "SIP requests received, by direction (inbound: from partners; outbound: toward partners).",
		}, []string{"direction"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sipfed", Subsystem: "sip", Name: "responses_total",
			Help: "Final SIP responses sent upstream, by direction and status class (2xx...6xx).",
		}, []string{"direction", "class"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sipfed", Subsystem: "sip", Name: "failovers_total",
			Help: "Next hops given up on (transport error, timeout or 503), by reason.",
		}, []string{"reason"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sipfed", Subsystem: "tls", Name: "handshake_failures_total",
			Help: "TLS handshakes rejected, by direction and reason (chain, subject).",
		}, []string{"direction", "reason"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sipfed", Subsystem: "sip", Name: "shed_total",
			Help: "Requests answered 503 because the proxy was overloaded (too many transactions in flight, or requests waiting too long to be handled).",
		}),
		overloaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sipfed", Subsystem: "sip", Name: "overloaded",
			Help: "1 while new requests are refused with 503 because the proxy is behind.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sipfed", Subsystem: "sip", Name: "inflight_transactions",
			Help: "Transactions being forwarded.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.responses, m.failovers, m.handshakes, m.shed, m.inflight, m.overloaded} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	m.reqIn = m.requests.WithLabelValues(dirInbound)
	m.reqOut = m.requests.WithLabelValues(dirOutbound)
	m.byClass = map[string]*[7]prometheus.Counter{}
	for _, d := range []string{dirInbound, dirOutbound} {
		var a [7]prometheus.Counter
		for c := 1; c <= 6; c++ {
			a[c] = m.responses.WithLabelValues(d, strconv.Itoa(c)+"xx")
		}
		m.byClass[d] = &a
	}
	return m, nil
}

func (m *metrics) request(dir string) {
	if dir == dirInbound {
		m.reqIn.Inc()
		return
	}
	m.reqOut.Inc()
}

func (m *metrics) response(dir string, code int) {
	c := code / 100
	if c < 1 || c > 6 {
		return
	}
	if a := m.byClass[dir]; a != nil {
		a[c].Inc()
	}
}
