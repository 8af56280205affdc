package etcd

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Outcomes of a write whose answer was lost, as the lost-writes metric counts them.
const (
	outcomeCommitted    = telemetry.ResultCommitted
	outcomeNotCommitted = telemetry.ResultNotCommitted
	outcomeUnknown      = telemetry.ResultUnknown
)

type metrics struct {
	conflicts     prometheus.Counter
	lostWrites    *prometheus.CounterVec
	watchRestarts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		conflicts: telemetry.NewCounter(telemetry.MetricStoreWriteConflicts, "Writes retried because another node wrote first (etcd)."),
		lostWrites: telemetry.NewCounterVec(telemetry.MetricStoreLostWrites,
			"Writes whose answer from etcd was lost, by what checking found: committed, not_committed, unknown (answered 504 commit_unknown).",
			telemetry.LabelResult),
		watchRestarts: telemetry.NewCounter(telemetry.MetricStoreWatchRestarts, "Times the configuration watch on etcd was interrupted and resumed."),
	}
	for _, o := range []string{outcomeCommitted, outcomeNotCommitted, outcomeUnknown} {
		m.lostWrites.WithLabelValues(o)
	}
	return m, telemetry.Register(reg, m.conflicts, m.lostWrites, m.watchRestarts)
}
