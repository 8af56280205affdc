// Package telemetry is sipfed-proxy's one vocabulary for what it reports: every log key, every
// metric name and every label value an operator reads lives here, once. A concept has one name
// from the API field to the log key to the metric label (`protocol`, never `transport`), so a
// dashboard query and a log search use the same word.
//
// The metrics convention: each package builds its collectors with NewCounter/NewGauge/... under
// namespace "sipfed" and a subsystem of its own, on a registry it is given (never the global
// one), and returns registration errors instead of panicking.
package telemetry

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric.
const Namespace = "sipfed"

// Subsystems: one per package that reports metrics.
const (
	SubsystemSIP       = "sip"       // the SIP core and federation policy
	SubsystemTLS       = "tls"       // handshakes and certificates
	SubsystemDNS       = "dns"       // SRV and address discovery
	SubsystemAdmin     = "admin"     // the REST admin API
	SubsystemSnapshot  = "snapshot"  // the live routing snapshot
	SubsystemStore     = "store"     // the configuration store
	SubsystemCluster   = "cluster"   // etcd membership
	SubsystemNextHop   = "next_hop"  // next-hop health
	SubsystemOverload  = "overload"  // admission control
	SubsystemTransport = "transport" // connections, framing and limits
)

// Log keys. One concept, one key; values keep one shape per key (see each comment).
const (
	KeyError     = "error"
	KeyComponent = "component"
	// KeyDirection is DirInbound or DirOutbound: which way the SIP request travels.
	KeyDirection = "direction"
	// KeySide is SideInternal or SideExternal: which listener side a connection belongs to.
	KeySide = "side"
	// KeyProtocol is udp, tcp or tls, as the API's static-route field.
	KeyProtocol = "protocol"
	// KeyNextHop is always host:port (an IP literal and port), never a URI or a name.
	KeyNextHop = "next_hop"
	// KeyNextHopName is the name a next hop was found under (route next_hop or SRV target).
	KeyNextHopName = "next_hop_name"
	// KeyRemote is the host:port a connection or datagram came from.
	KeyRemote = "remote"
	// KeyListener is a listener URL, e.g. tls://0.0.0.0:5061.
	KeyListener = "listener"
	// KeyDomain is the federated or local domain a decision is about; one per record. When a
	// record needs two, the second is KeyFromDomain or KeyToDomain.
	KeyDomain     = "domain"
	KeyFromDomain = "from_domain"
	KeyToDomain   = "to_domain"
	// KeyPeerSubject is a configured TLS peer subject (the API object).
	KeyPeerSubject = "peer_subject"
	// KeyPeerIdentities are the identities a certificate presented (RFC 5922), comma-separated.
	KeyPeerIdentities = "peer_identities"
	KeyMethod         = "method"
	KeyStatus         = "status"
	KeyReason         = "reason"
	KeyCallID         = "call_id"
	KeyBranch         = "branch"
	KeyStep           = "step"
	KeyRouteID        = "route_id"
	KeyRevision       = "revision"
	KeyDuration       = "duration"
	KeyExcerpt        = "excerpt"
	KeySuppressed     = "suppressed"
	KeyPath           = "path"
	KeyActor          = "actor"
	KeyFile           = "file"
	KeyNode           = "node"
	KeyCount          = "count"
)

// Label and log values.
const (
	DirInbound  = "inbound"  // from a partner, toward the internal side
	DirOutbound = "outbound" // from the internal side, toward a partner

	SideInternal = "internal"
	SideExternal = "external"
)

// Register registers collectors on reg, joining the errors; a nil reg registers nothing (the
// collectors still count, unexported).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Metric names, each declared once here; a test walks a running proxy's registry against them.
const (
	MetricTransportConnections   = "sipfed_transport_connections"
	MetricTransportRefused       = "sipfed_transport_refused_total"
	MetricTransportPartialBytes  = "sipfed_transport_partial_bytes"
	MetricTransportParseErrors   = "sipfed_transport_parse_errors_total"
	MetricTLSHandshakeFailures   = "sipfed_tls_handshake_failures_total"
	MetricSIPRequests            = "sipfed_sip_requests_total"
	MetricSIPResponses           = "sipfed_sip_responses_total"
	MetricSIPTransactionDuration = "sipfed_sip_transaction_duration_seconds"
	MetricSIPInflight            = "sipfed_sip_inflight_transactions"
	MetricSIPFailovers           = "sipfed_sip_failovers_total"
	MetricSIPRefused             = "sipfed_sip_refused_total"
	MetricSIPStrayResponses      = "sipfed_sip_stray_responses_total"
	MetricOverloadShed           = "sipfed_overload_shed_total"
	MetricOverloadActive         = "sipfed_overload_active"
	MetricOverloadQueueDelay     = "sipfed_overload_queue_delay_seconds"
	MetricNextHopFailures        = "sipfed_next_hop_failures_total"
	MetricNextHopDown            = "sipfed_next_hop_down"
)

// Label names.
const (
	LabelSide      = "side"
	LabelProtocol  = "protocol"
	LabelReason    = "reason"
	LabelDirection = "direction"
	LabelClass     = "class"
	LabelStatus    = "status"
)

// Reasons, as metric label values and log values.
const (
	ReasonPerAddressLimit = "per_address_limit"
	ReasonConnectionLimit = "connection_limit"
	ReasonPartialBudget   = "partial_budget"
	ReasonTooLarge        = "too_large"
	ReasonFraming         = "framing"
	ReasonMessageTimeout  = "message_timeout"
	ReasonIdle            = "idle"
	ReasonHandshake       = "handshake"
	ReasonChain           = "chain"
	ReasonPeerSubject     = "peer_subject"
	ReasonWriteQueue      = "write_queue"
)
