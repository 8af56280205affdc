// Package telemetry is sipfed-proxy's one vocabulary for what it reports: every log key, every
// metric name and every label value an operator reads lives here, once. A concept has one name
// from the API field to the log key to the metric label (`protocol`, never `transport`), so a
// dashboard query and a log search use the same word.
//
// The metrics convention: each package builds its collectors from the Metric* names declared
// here (namespace "sipfed", then the package's subsystem), with the constructors below, on a
// registry it is given (never the global one), and returns registration errors instead of
// panicking.
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
	// KeyBytes is a size in bytes.
	KeyBytes = "bytes"
	// KeyBackup is a file kept aside as a way back (a store before migration or restore).
	KeyBackup = "backup"
	KeyNode   = "node"
	KeyCount  = "count"
	// KeyPanic is the value a recovered panic carried; KeyStack its goroutine stack.
	KeyPanic = "panic"
	KeyStack = "stack"
	// KeyRetryIn is how long until a retry, a duration.
	KeyRetryIn = "retry_in"
	// KeyAdminAddr is the admin API's listen address, host:port.
	KeyAdminAddr = "admin_addr"
	KeyDataDir   = "data_dir"
	// KeyNodeFQDN is this node's own name (--node-fqdn).
	KeyNodeFQDN = "node_fqdn"
	// KeySignal is the name of an operating-system signal, e.g. "terminated", "hangup".
	KeySignal = "signal"
	// KeyCause is what asked for a stop: a signal's name ("terminated", "interrupt"), "closed",
	// or a component that failed.
	KeyCause = "cause"
	// KeyIdentities are the RFC 5922 identities of the proxy's own certificate, comma-separated
	// (a peer's are KeyPeerIdentities).
	KeyIdentities = "identities"
	// KeyNotAfter is a certificate's expiry time (RFC 3339); KeyCANotAfter the earliest expiry of
	// the CA bundle.
	KeyNotAfter   = "not_after"
	KeyCANotAfter = "ca_not_after"
	// KeyTokens is how many admin tokens are loaded.
	KeyTokens = "tokens"
	// KeyAdminRequests and KeySIPTransactions count what a shutdown drained.
	KeyAdminRequests   = "admin_requests"
	KeySIPTransactions = "sip_transactions"
	// KeyAbandoned counts what a drain had to answer at its bound rather than see finish.
	KeyAbandoned = "abandoned"
	// KeyBound is a configured upper bound (a duration), e.g. --shutdown-timeout.
	KeyBound = "bound"
)

// Metric names, whole (namespace_subsystem_name), as a dashboard or an alert queries them. Every
// metric the proxy exports is declared here: a test walks a running proxy's registry and refuses
// any other name. Labels are the Label* constants below.
const (
	// SIP core: requests and responses by direction.
	MetricSIPRequests  = "sipfed_sip_requests_total"  // {direction}
	MetricSIPResponses = "sipfed_sip_responses_total" // {direction, class}: final responses sent upstream
	MetricSIPFailovers = "sipfed_sip_failovers_total" // {reason}: branches given up on
	MetricSIPRefused   = "sipfed_sip_refused_total"   // {direction, status}: answered by the proxy itself
	MetricSIPStray     = "sipfed_sip_stray_responses_total"
	MetricSIPShed      = "sipfed_sip_shed_total" // {reason}: new requests answered 503 at admission
	MetricSIPOverload  = "sipfed_sip_overloaded" // 1 while admission refuses requests that waited too long
	// MetricSIPQueueDelay is the least wait of a request before its handling over the last
	// interval (UDP: from the kernel's receive time).
	MetricSIPQueueDelay = "sipfed_sip_queue_delay_seconds"
	MetricSIPInFlight   = "sipfed_sip_inflight_transactions"
	// Next-hop health.
	MetricNextHopFailures = "sipfed_next_hop_failures_total" // {reason}
	MetricNextHopDown     = "sipfed_next_hop_down"           // next hops skipped until a probe answers

	// SIP connections, framing and limits.
	MetricSIPConnections   = "sipfed_sip_connections"          // {side, protocol}
	MetricSIPLimitRefusals = "sipfed_sip_limit_refusals_total" // {side, reason}
	MetricSIPPartialBytes  = "sipfed_sip_partial_bytes"        // held for messages not yet whole
	MetricSIPParseErrors   = "sipfed_sip_parse_errors_total"   // {side, status}
	// MetricSIPUDPDrops counts datagrams the kernel dropped because a UDP socket's receive
	// buffer was full {side}.
	MetricSIPUDPDrops = "sipfed_sip_udp_drops_total"
	// MetricSIPTransactionDuration is the latency of a SIP transaction through the proxy, from
	// request in to final response out, as a histogram {direction, protocol}.
	MetricSIPTransactionDuration = "sipfed_sip_transaction_duration_seconds"

	// TLS: handshakes and the proxy's own certificate material.
	MetricTLSHandshakeFailures = "sipfed_tls_handshake_failures_total" // {side, reason}
	// MetricTLSCertificateExpiry is the Unix time the proxy's certificate (--tls-cert) expires.
	MetricTLSCertificateExpiry = "sipfed_tls_certificate_expiry_timestamp_seconds"
	// MetricTLSCAExpiry is the Unix time the first certificate of the CA bundle (--tls-ca) expires.
	MetricTLSCAExpiry = "sipfed_tls_ca_expiry_timestamp_seconds"
	MetricTLSReloads  = "sipfed_tls_reloads_total" // {result}: SIGHUP reloads of cert, key and CA

	// DNS discovery.
	MetricDNSLookups          = "sipfed_dns_lookups_total" // {type, result}
	MetricDNSExchangeDuration = "sipfed_dns_exchange_duration_seconds"
	MetricDNSTruncated        = "sipfed_dns_truncated_total"
	MetricDNSCacheEntries     = "sipfed_dns_cache_entries"

	// Admin API.
	MetricAdminRequests        = "sipfed_admin_requests_total"           // {method, path, status}
	MetricAdminRequestDuration = "sipfed_admin_request_duration_seconds" // {method, path}
	MetricAdminInFlight        = "sipfed_admin_requests_in_flight"
	MetricAdminTokenReloads    = "sipfed_admin_token_reloads_total" // {result}
	MetricAdminTokens          = "sipfed_admin_tokens"

	// Routing snapshot.
	MetricSnapshotBuildDuration = "sipfed_snapshot_build_duration_seconds"
	MetricSnapshotRevision      = "sipfed_snapshot_revision"
	// MetricSnapshotIgnoredDomains counts stored federated domains left out of routing (a local
	// domain or localhost).
	MetricSnapshotIgnoredDomains = "sipfed_snapshot_ignored_domains"

	// The etcd store: writes retried because another node wrote first; writes whose answer was
	// lost, by what checking found (result: ResultCommitted, ResultNotCommitted, ResultUnknown);
	// interruptions of the configuration watch.
	MetricStoreWriteConflicts = "sipfed_store_write_conflicts_total"
	MetricStoreLostWrites     = "sipfed_store_lost_writes_total" // {result}
	MetricStoreWatchRestarts  = "sipfed_store_watch_restarts_total"

	// The cluster (etcd): 1 while etcd answers this node, 0 while it is cut off (routing by the
	// last snapshot, writes answering 503); the nodes registered; 1 while this node's flags agree
	// with the cluster's; times its registration was lost and made again.
	MetricClusterStoreReachable   = "sipfed_cluster_store_reachable"
	MetricClusterNodes            = "sipfed_cluster_nodes"
	MetricClusterNodeReady        = "sipfed_cluster_node_ready"
	MetricClusterRegistrationLost = "sipfed_cluster_registration_lost_total"
)

// Metrics declares every metric with its labels, in order: a test checks that what a running
// proxy registers has exactly these.
var Metrics = map[string][]string{
	MetricSIPRequests:            {LabelDirection},
	MetricSIPResponses:           {LabelDirection, LabelClass},
	MetricSIPFailovers:           {LabelReason},
	MetricSIPRefused:             {LabelDirection, LabelStatus},
	MetricSIPStray:               nil,
	MetricSIPShed:                {LabelReason},
	MetricSIPOverload:            nil,
	MetricSIPQueueDelay:          nil,
	MetricSIPInFlight:            nil,
	MetricSIPTransactionDuration: {LabelDirection, LabelProtocol},
	MetricNextHopFailures:        {LabelReason},
	MetricNextHopDown:            nil,

	MetricSIPConnections:   {LabelSide, LabelProtocol},
	MetricSIPLimitRefusals: {LabelSide, LabelReason},
	MetricSIPPartialBytes:  nil,
	MetricSIPParseErrors:   {LabelSide, LabelStatus},
	MetricSIPUDPDrops:      {LabelSide},

	MetricTLSHandshakeFailures: {LabelSide, LabelReason},
	MetricTLSCertificateExpiry: nil,
	MetricTLSCAExpiry:          nil,
	MetricTLSReloads:           {LabelResult},

	MetricDNSLookups:          {LabelType, LabelResult},
	MetricDNSExchangeDuration: {LabelProtocol},
	MetricDNSTruncated:        nil,
	MetricDNSCacheEntries:     nil,

	MetricAdminRequests:        {LabelMethod, LabelPath, LabelStatus},
	MetricAdminRequestDuration: {LabelMethod, LabelPath},
	MetricAdminInFlight:        nil,
	MetricAdminTokenReloads:    {LabelResult},
	MetricAdminTokens:          nil,

	MetricSnapshotBuildDuration:  nil,
	MetricSnapshotRevision:       nil,
	MetricSnapshotIgnoredDomains: nil,

	MetricStoreWriteConflicts: nil,
	MetricStoreLostWrites:     {LabelResult},
	MetricStoreWatchRestarts:  nil,

	MetricClusterStoreReachable:   nil,
	MetricClusterNodes:            nil,
	MetricClusterNodeReady:        nil,
	MetricClusterRegistrationLost: nil,
}

// Metric labels. Where a label and a log key mean the same, they are the same word.
const (
	LabelDirection = KeyDirection
	LabelSide      = KeySide
	LabelProtocol  = KeyProtocol
	LabelReason    = KeyReason
	LabelMethod    = KeyMethod
	LabelStatus    = KeyStatus
	LabelPath      = KeyPath
	// LabelClass is a SIP status class: 1xx ... 6xx.
	LabelClass = "class"
	// LabelResult is what an operation came to: ResultOK, ResultError, or a DNS result.
	LabelResult = "result"
	// LabelType is a DNS record type: SRV, A, AAAA.
	LabelType = "type"
)

// Labels lists every declared label name.
var Labels = []string{LabelDirection, LabelSide, LabelProtocol, LabelReason, LabelMethod, LabelStatus,
	LabelPath, LabelClass, LabelResult, LabelType}

// Label and log values.
const (
	DirInbound  = "inbound"  // from a partner, toward the internal side
	DirOutbound = "outbound" // from the internal side, toward a partner

	SideInternal = "internal"
	SideExternal = "external"

	ResultOK    = "ok"
	ResultError = "error"

	// What checking a write whose answer was lost found.
	ResultCommitted    = "committed"
	ResultNotCommitted = "not_committed"
	ResultUnknown      = "unknown"
)

// Reasons, as metric label values and log values.
const (
	ReasonPerAddressLimit = "per_address_limit"
	ReasonConnectionLimit = "connection_limit"
	ReasonPartialBudget   = "partial_budget"
	ReasonTooLarge        = "too_large"
	ReasonFraming         = "framing"
	ReasonMessageTimeout  = "message_timeout"
	ReasonWriteQueue      = "write_queue"
	ReasonHandshake       = "handshake"
	ReasonChain           = "chain"
	ReasonPeerSubject     = "peer_subject"
	ReasonTransport       = "transport"
	ReasonTimeout         = "timeout"
	ReasonQueueDelay      = "queue_delay"
	ReasonStandingQueue   = "standing_queue" // a stream whose receive queue does not drain
	ReasonSchedulingDelay = "scheduling_delay"
	ReasonInFlight        = "in_flight"
	ReasonDraining        = "draining"
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

// Constructors from a declared name: the name is whole, so Namespace and Subsystem stay empty.

// NewCounter makes a counter called name.
func NewCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

// NewCounterVec makes a counter vector called name with these labels.
func NewCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// NewGauge makes a gauge called name.
func NewGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

// NewGaugeFunc makes a gauge called name whose value f gives at each scrape.
func NewGaugeFunc(name, help string, f func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
}

// NewHistogram makes a histogram called name.
func NewHistogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

// NewHistogramVec makes a histogram vector called name with these labels.
func NewHistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}

// NewDesc describes a metric called name that a custom collector emits.
func NewDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}
