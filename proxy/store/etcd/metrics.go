package etcd

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Outcomes of a write whose answer was lost, as sipfed_store_lost_writes_total counts them.
const (
	outcomeCommitted    = "committed"
	outcomeNotCommitted = "not_committed"
	outcomeUnknown      = "unknown"
)

type metrics struct {
	conflicts     prometheus.Counter
	lostWrites    *prometheus.CounterVec
	watchRestarts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: telemetry.Namespace, Subsystem: telemetry.SubsystemStore,
			Name: "write_conflicts_total", Help: "Writes retried because another node wrote first (etcd)."}),
		lostWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Subsystem: telemetry.SubsystemStore,
			Name: "lost_writes_total", Help: "Writes whose answer from etcd was lost, by what checking found: committed, not_committed, unknown (answered 504 commit_unknown)."},
			[]string{"outcome"}),
		watchRestarts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: telemetry.Namespace, Subsystem: telemetry.SubsystemStore,
			Name: "watch_restarts_total", Help: "Times the configuration watch on etcd was interrupted and resumed."}),
	}
	for _, o := range []string{outcomeCommitted, outcomeNotCommitted, outcomeUnknown} {
		m.lostWrites.WithLabelValues(o)
	}
	return m, telemetry.Register(reg, m.conflicts, m.lostWrites, m.watchRestarts)
}
