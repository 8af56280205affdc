// Package admin is the proxy's REST admin API, the only way into its configuration. A write
// answers 2xx only once it is durable in the store and live in the routing snapshot.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/cluster"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Config wires the API to the proxy.
type Config struct {
	Store  store.Store
	Live   *state.Live
	Tokens *Tokens
	// Routing is the node's own settings (node FQDN, local domains, default federation routing
	// domain), as the snapshot is built with them.
	Routing routing.Options
	// DNS serves the explain endpoint: the same resolver, and so the same cache, as the relay.
	DNS routing.DNS
	// ExternalPort is the port of the external SIP listener, for the SRV records to publish.
	ExternalPort int
	// Ready says why the proxy is not ready to route (starting, draining for a shutdown); nil
	// when it is. /readyz answers 503 with the reason.
	Ready func() error
	// Cluster is the node's cluster membership; nil on the embedded store (a cluster of one).
	Cluster *cluster.Cluster
	// LiveTimeout bounds how long a write waits for its revision to go live.
	LiveTimeout time.Duration
	Gatherer    prometheus.Gatherer
	Registerer  prometheus.Registerer
	Log         *slog.Logger
}

// DefaultLiveTimeout is Config.LiveTimeout's default.
const DefaultLiveTimeout = 10 * time.Second

// Server is the admin API's HTTP handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	metrics *metrics
	// inFlight counts requests being handled: a shutdown reports how many it let finish.
	inFlight atomic.Int64
	// clustered: the store is shared with other nodes (etcd).
	clustered bool
}

// New returns the admin API handler. It fails when its metrics cannot be registered (a registry
// that already holds them).
func New(cfg Config) (*Server, error) {
	if cfg.LiveTimeout == 0 {
		cfg.LiveTimeout = DefaultLiveTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Routing.DefaultFederationRoutingDomain == "" {
		cfg.Routing.DefaultFederationRoutingDomain = api.DefaultFederationRoutingDomain
	}
	clustered := cfg.Cluster != nil
	if !clustered {
		cfg.Cluster = singleNode(cfg)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), clustered: clustered}
	var err error
	if s.metrics, err = newMetrics(cfg.Registerer, s, cfg.Tokens); err != nil {
		return nil, fmt.Errorf("admin API metrics: %w", err)
	}

	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("/readyz", s.readyz)
	if cfg.Gatherer != nil {
		s.mux.Handle("/metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}

	v1 := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, s.authenticated(pattern, h)) }
	for _, c := range []collection{domains(), routes(), peerSubjects()} {
		v1(c.path, s.collectionHandler(c))
		v1(c.path+"/{key}", s.itemHandler(c))
	}
	v1(api.PathFederationRoutingFQDN, s.routingFQDN)
	v1(api.PathFederationService, s.federationService)
	v1(api.PathIncomingACLs, s.incomingACLs)
	v1(api.PathChanges, s.changes)
	v1(api.PathRoute, s.route)
	v1(api.PathNode, s.node)
	v1(api.PathCluster, s.clusterView)
	v1(api.PathOpenAPI, serveOpenAPI)
	v1(pathBackup, s.backup)
	// Profiles for an operator chasing CPU or memory at 3 a.m.; they reveal internals, so they
	// need a token like the rest.
	v1("/debug/pprof/", pprof.Index)
	v1("/debug/pprof/profile", pprof.Profile)
	v1("/debug/pprof/trace", pprof.Trace)
	// An unknown path gets its own code, never not_found: a client must not read "no such path"
	// (a wrong endpoint prefix, a typo) as "no such object" and drop what it manages.
	v1("/v1/", unknownPath)
	s.mux.HandleFunc("/", unknownPath)
	return s, nil
}

func unknownPath(w http.ResponseWriter, r *http.Request) {
	writeError(w, &api.Error{Status: http.StatusNotFound, Code: api.CodeUnknownPath,
		Message: "the admin API has no path " + r.URL.Path + "; its paths begin with /v1/ right after the host"})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.mux.ServeHTTP(w, r)
}

// InFlight is the number of requests being handled.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// Not-ready answers of /readyz: status says which, reason says why.
const (
	statusNotReady         = "not_ready"
	statusStoreUnavailable = "store_unavailable"
)

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": statusNotReady, "reason": err.Error()})
			return
		}
	}
	if s.clustered {
		s.clusterReadyz(w)
		return
	}
	if _, err := s.cfg.Store.Revision(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": statusStoreUnavailable, "reason": err.Error()})
		return
	}
	snap := s.cfg.Live.Load()
	body := map[string]any{"status": "ready", "revision": snap.Revision()}
	if ign := snap.Ignored(); len(ign) > 0 {
		// Still ready: routing works without them. The note says what an operator should fix.
		notes := make([]string, 0, len(ign))
		for d, why := range ign {
			notes = append(notes, "federated domain "+d+" is ignored: "+why+"; delete it")
		}
		slices.Sort(notes)
		body["notes"] = notes
	}
	writeJSON(w, http.StatusOK, body)
}

type actorKey struct{}

// actor is the name of the token the request came with.
func actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// authenticated requires a bearer token, records the request and names the actor.
func (s *Server) authenticated(pattern string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		name, ok := "", false
		if tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
			name, ok = s.cfg.Tokens.Lookup(strings.TrimSpace(tok))
		}
		if !ok {
			writeError(rec, &api.Error{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized,
				Message: "a valid bearer token is required (Authorization: Bearer <token>)"})
		} else {
			h(rec, r.WithContext(context.WithValue(r.Context(), actorKey{}, name)))
		}
		took := time.Since(start)
		s.metrics.observe(r.Method, pattern, rec.status, took)
		level := slog.LevelDebug
		if r.Method != http.MethodGet || rec.status >= 400 {
			level = slog.LevelInfo
		}
		s.cfg.Log.Log(r.Context(), level, "admin request", telemetry.KeyMethod, r.Method, telemetry.KeyPath, r.URL.Path,
			telemetry.KeyStatus, rec.status, telemetry.KeyActor, name, telemetry.KeyRemote, r.RemoteAddr, telemetry.KeyDuration, took)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// setRevision reports the global revision on a response.
func setRevision(w http.ResponseWriter, rev uint64) {
	w.Header().Set(api.HeaderRevision, strconv.FormatUint(rev, 10))
}

// currentRevision reads the store's revision for a read's response header.
func (s *Server) currentRevision(w http.ResponseWriter, r *http.Request) bool {
	rev, err := s.cfg.Store.Revision(r.Context())
	if err != nil {
		writeError(w, err)
		return false
	}
	setRevision(w, rev)
	return true
}

// awaitLive holds a committed write's answer until its revision routes, for at most LiveTimeout.
// The write is durable either way, so its answer stays a 2xx: an error status would make a
// client retry a write that already happened. A write not yet live says so in Sipfed-Live.
func (s *Server) awaitLive(w http.ResponseWriter, r *http.Request, rev uint64) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LiveTimeout)
	defer cancel()
	if err := s.cfg.Live.WaitRevision(ctx, rev); err != nil {
		w.Header().Set(api.HeaderLive, api.LivePending)
		s.cfg.Log.Warn("admin write committed but not yet live in routing", telemetry.KeyRevision, rev,
			telemetry.KeyMethod, r.Method, telemetry.KeyPath, r.URL.Path, telemetry.KeyError, err)
	}
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, s *Server, tokens *Tokens) (*metrics, error) {
	m := &metrics{
		requests: telemetry.NewCounterVec(telemetry.MetricAdminRequests, "Admin API requests by method, path pattern and status.",
			telemetry.LabelMethod, telemetry.LabelPath, telemetry.LabelStatus),
		latency: telemetry.NewHistogramVec(telemetry.MetricAdminRequestDuration,
			"Admin API request latency; writes include fsync and the snapshot swap.",
			prometheus.ExponentialBuckets(0.0005, 2, 14), telemetry.LabelMethod, telemetry.LabelPath),
	}
	cs := []prometheus.Collector{m.requests, m.latency,
		telemetry.NewGaugeFunc(telemetry.MetricAdminInFlight, "Admin API requests being handled.",
			func() float64 { return float64(s.inFlight.Load()) }),
	}
	if tokens != nil {
		cs = append(cs, tokenCollector{tokens})
	}
	return m, telemetry.Register(reg, cs...)
}

func (m *metrics) observe(method, path string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, path, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method, path).Observe(took.Seconds())
}

// tokenCollector reports the token set: how many tokens, and how its reloads went.
type tokenCollector struct{ t *Tokens }

var (
	descTokens       = telemetry.NewDesc(telemetry.MetricAdminTokens, "Admin API tokens accepted.")
	descTokenReloads = telemetry.NewDesc(telemetry.MetricAdminTokenReloads,
		"Reloads of the admin token file (SIGHUP), by result; a failed one keeps the tokens in use.", telemetry.LabelResult)
)

func (c tokenCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTokens
	ch <- descTokenReloads
}

func (c tokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descTokens, prometheus.GaugeValue, float64(c.t.Len()))
	ch <- prometheus.MustNewConstMetric(descTokenReloads, prometheus.CounterValue, float64(c.t.reloadOK.Load()), telemetry.ResultOK)
	ch <- prometheus.MustNewConstMetric(descTokenReloads, prometheus.CounterValue, float64(c.t.reloadKO.Load()), telemetry.ResultError)
}
