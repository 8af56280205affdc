// Package cluster is a proxy node's membership in its cluster: it registers the node in etcd
// under a lease (FQDN, addresses, version, the revision it has applied), watches whether etcd can
// be reached, and checks that the flags every node must agree on (local domains, the default
// federation routing domain) do. GET /v1/cluster and /readyz read it.
//
// On the embedded bbolt store a proxy is a cluster of one: the same view, with itself alone.
package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Config describes the node and where the cluster lives.
type Config struct {
	// Self is what the node publishes: FQDN, addresses, version, external port, and its values
	// of the flags that must agree. Revision, LastSeen and the readiness fields are filled in.
	Self api.ClusterNode
	// Store is the configuration store.
	Store store.Store
	// Etcd is the same store when it is etcd; nil for a single node on bbolt.
	Etcd *etcd.Store
	Live *state.Live
	// LeaseTTL is how long a node stays listed after it stopped renewing; default 10 s.
	LeaseTTL time.Duration
	// Interval is how often the node checks etcd and the other nodes; default 1 s.
	Interval   time.Duration
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Cluster is the node's membership.
type Cluster struct {
	cfg      Config
	instance string
	started  time.Time
	metrics  *metrics
	lease    clientv3.LeaseID

	mu          sync.Mutex
	members     []member
	polled      bool
	reachable   bool
	unreachable time.Time // since when, while not reachable
	lastErr     error
}

// New returns the membership of a node; Run registers it and keeps it current.
func New(cfg Config) (*Cluster, error) {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Self.LocalDomains = sorted(cfg.Self.LocalDomains)
	var b [8]byte
	_, _ = rand.Read(b[:])
	c := &Cluster{cfg: cfg, instance: hex.EncodeToString(b[:]), started: time.Now().UTC(), reachable: true}
	m, err := newMetrics(cfg.Registerer, cfg.Etcd != nil)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

// record is a node's registration as stored under nodes/<fqdn>.
type record struct {
	Instance                       string    `json:"instance"`
	NodeFQDN                       string    `json:"node_fqdn"`
	SIPAddresses                   []string  `json:"sip_addresses"`
	AdminAddress                   string    `json:"admin_address"`
	PublicAddresses                []string  `json:"public_addresses"`
	ExternalPort                   int       `json:"external_port"`
	Version                        string    `json:"version"`
	Revision                       uint64    `json:"revision"`
	Started                        time.Time `json:"started"`
	LocalDomains                   []string  `json:"local_domains"`
	DefaultFederationRoutingDomain string    `json:"default_federation_routing_domain"`
}

// member is a registration as read back, with what etcd knows of it.
type member struct {
	record
	createRev int64
	lease     clientv3.LeaseID
}

func (c *Cluster) self() record {
	s := c.cfg.Self
	return record{
		Instance: c.instance, NodeFQDN: s.NodeFQDN, SIPAddresses: s.SIPAddresses, AdminAddress: s.AdminAddress,
		PublicAddresses: s.PublicAddresses, ExternalPort: s.ExternalPort, Version: s.Version,
		Revision: c.cfg.Live.Load().Revision(), Started: c.started,
		LocalDomains: s.LocalDomains, DefaultFederationRoutingDomain: s.DefaultFederationRoutingDomain,
	}
}

// Start registers the node and reads the cluster once, so that the node is listed and its
// readiness known when the proxy starts serving. Run then keeps both current.
func (c *Cluster) Start(ctx context.Context) error {
	if c.cfg.Etcd == nil {
		return nil
	}
	// A process that stopped without leaving (a crash) keeps its registration until its lease
	// lapses: wait that long before calling the FQDN taken by a running process.
	deadline := time.Now().Add(c.cfg.LeaseTTL + 2*time.Second)
	lease, err := c.register(ctx)
	for errors.Is(err, errTaken) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		lease, err = c.register(ctx)
	}
	if err != nil {
		return fmt.Errorf("registering node %s in etcd: %w", c.cfg.Self.NodeFQDN, err)
	}
	c.lease = lease
	c.poll(ctx)
	return nil
}

// Run renews the registration and watches the cluster until ctx ends; then the node leaves the
// list at once.
func (c *Cluster) Run(ctx context.Context) error {
	if c.cfg.Etcd == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.watch(ctx)
	}()
	c.keep(ctx, c.lease)
	<-done
	return nil
}

// errTaken: another running process is registered under this node's FQDN.
var errTaken = errors.New("another running process is registered under this node FQDN: every node needs its own --node-fqdn")

// register grants a lease and puts the node's record under it, unless another process holds the
// node's key.
func (c *Cluster) register(ctx context.Context) (clientv3.LeaseID, error) {
	cli := c.cfg.Etcd.Client()
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Etcd.RequestTimeout())
	defer cancel()
	g, err := cli.Grant(cctx, int64(c.cfg.LeaseTTL/time.Second))
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(c.self())
	if err != nil {
		return 0, err
	}
	put := clientv3.OpPut(c.key(), string(b), clientv3.WithLease(g.ID))
	resp, err := cli.Txn(cctx).If(clientv3.Compare(clientv3.CreateRevision(c.key()), "=", 0)).Then(put).Else(clientv3.OpGet(c.key())).Commit()
	if err == nil && !resp.Succeeded {
		var other record
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			_ = json.Unmarshal(kvs[0].Value, &other)
		}
		if other.Instance != c.instance {
			err = fmt.Errorf("%w (admin address %s, started %s)", errTaken, other.AdminAddress, other.Started.Format(time.RFC3339))
		} else {
			// This process's own registration, from a lease it is replacing.
			_, err = cli.Put(cctx, c.key(), string(b), clientv3.WithLease(g.ID))
		}
	}
	if err != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = cli.Revoke(rctx, g.ID)
		rcancel()
		return 0, err
	}
	return g.ID, nil
}

func (c *Cluster) key() string { return c.cfg.Etcd.NodesPrefix() + c.cfg.Self.NodeFQDN }

// update republishes the record under the node's lease, as long as the key is still its own.
func (c *Cluster) update(ctx context.Context, lease clientv3.LeaseID, rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	resp, err := c.cfg.Etcd.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(c.key()), "=", lease)).
		Then(clientv3.OpPut(c.key(), string(b), clientv3.WithLease(lease))).
		Commit()
	if err == nil && !resp.Succeeded {
		return errRegistrationGone
	}
	return err
}

// errRegistrationGone: the node's key is no longer under its lease (lapsed, or taken).
var errRegistrationGone = errors.New("the node's registration is gone")

// keep renews the registration and republishes the applied revision when it moves. A lease
// that lapsed (etcd out of reach for longer than its TTL) is replaced by a new registration once
// etcd is back. When ctx ends the lease is revoked: the node leaves the list at once.
func (c *Cluster) keep(ctx context.Context, lease clientv3.LeaseID) {
	cli := c.cfg.Etcd.Client()
	retry := 200 * time.Millisecond
	for {
		err := c.renew(ctx, lease)
		if ctx.Err() != nil {
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = cli.Revoke(rctx, lease)
			cancel()
			return
		}
		c.metrics.registrationErrors.Inc()
		c.cfg.Log.Warn("cluster registration lost; registering again", telemetry.KeyNode, c.cfg.Self.NodeFQDN, telemetry.KeyError, err)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
			retry = min(2*retry, 2*time.Second)
			if lease, err = c.register(ctx); err == nil {
				retry = 200 * time.Millisecond
				break
			}
		}
	}
}

// renew runs one lease until it is lost or ctx ends.
func (c *Cluster) renew(ctx context.Context, lease clientv3.LeaseID) error {
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ka, err := c.cfg.Etcd.Client().KeepAlive(kctx, lease)
	if err != nil {
		return err
	}
	// The applied revision is published when it moves, at most every tick: a burst of writes
	// costs the registry one put per tick, not one per write.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	published := c.self().Revision
	for {
		select {
		case _, ok := <-ka:
			if !ok {
				return errors.New("lease expired")
			}
		case <-tick.C:
			rec := c.self()
			if rec.Revision == published {
				continue
			}
			pctx, pcancel := context.WithTimeout(ctx, c.cfg.Etcd.RequestTimeout())
			err := c.update(pctx, lease, rec)
			pcancel()
			switch {
			case err == nil:
				published = rec.Revision
			case errors.Is(err, errRegistrationGone):
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watch reads the registrations every interval: whether etcd answers, and who is there.
func (c *Cluster) watch(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.poll(ctx)
		}
	}
}

func (c *Cluster) poll(ctx context.Context) {
	members, err := c.read(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.polled = true
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if c.reachable {
			c.reachable, c.unreachable = false, time.Now().UTC()
			c.cfg.Log.Warn("etcd unreachable: routing goes on by the last snapshot; writes answer 503",
				telemetry.KeyRevision, c.cfg.Live.Load().Revision(), telemetry.KeyError, err)
		}
		c.lastErr = err
	} else {
		if !c.reachable {
			c.cfg.Log.Info("etcd reachable again", telemetry.KeyDuration, time.Since(c.unreachable).Round(time.Millisecond))
		}
		c.reachable, c.lastErr, c.members = true, nil, members
	}
	c.metrics.reachable.Set(b2f(c.reachable))
	c.metrics.nodes.Set(float64(len(c.members)))
	ready, _ := c.verdictLocked()
	c.metrics.ready.Set(b2f(ready))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// read lists the registrations, oldest first.
func (c *Cluster) read(ctx context.Context) ([]member, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Etcd.RequestTimeout())
	defer cancel()
	resp, err := c.cfg.Etcd.Client().Get(cctx, c.cfg.Etcd.NodesPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]member, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var rec record
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			c.cfg.Log.Warn("unreadable node registration", telemetry.KeyNode, string(kv.Key), telemetry.KeyError, err)
			continue
		}
		rec.LocalDomains = sorted(rec.LocalDomains)
		out = append(out, member{record: rec, createRev: kv.CreateRevision, lease: clientv3.LeaseID(kv.Lease)})
	}
	slices.SortFunc(out, func(a, b member) int { return cmp.Compare(a.createRev, b.createRev) })
	return out, nil
}

// Readiness is what /readyz reports of the cluster.
type Readiness struct {
	// Ready is false when this node's flags disagree with the cluster's, or its FQDN is taken.
	Ready    bool
	NotReady []string
	// StoreReachable is false while etcd does not answer: the node routes by its last snapshot
	// and answers writes 503.
	StoreReachable   bool
	UnreachableSince time.Time
	StoreError       string
}

// Readiness reports the node's state as of the last check.
func (c *Cluster) Readiness() Readiness {
	if c.cfg.Etcd == nil {
		return Readiness{Ready: true, StoreReachable: true}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ready, why := c.verdictLocked()
	r := Readiness{Ready: ready, NotReady: why, StoreReachable: c.reachable}
	if !c.reachable {
		r.UnreachableSince = c.unreachable
		if c.lastErr != nil {
			r.StoreError = c.lastErr.Error()
		}
	}
	return r
}

func (c *Cluster) verdictLocked() (bool, []string) {
	members := c.withSelf(c.members)
	_, verdicts := agreement(members)
	why := verdicts[c.cfg.Self.NodeFQDN]
	for _, m := range c.members {
		if m.NodeFQDN == c.cfg.Self.NodeFQDN && m.Instance != c.instance {
			why = append(why, fmt.Sprintf("another process (started %s) is registered as node %s: every node needs its own --node-fqdn",
				m.Started.Format(time.RFC3339), m.NodeFQDN))
		}
	}
	return len(why) == 0, why
}

// withSelf makes sure this node's own values take part, registered yet or not.
func (c *Cluster) withSelf(members []member) []member {
	for _, m := range members {
		if m.NodeFQDN == c.cfg.Self.NodeFQDN {
			return members
		}
	}
	return append(slices.Clone(members), member{record: c.self(), createRev: 1<<63 - 1})
}

// settings is the value of the flags that must agree, as one comparable string.
func settings(r record) string {
	return strings.Join(r.LocalDomains, ",") + "|" + r.DefaultFederationRoutingDomain
}

// agreement finds the cluster's values of the flags that must agree: those of most nodes, the
// longest-running node's group on a tie (members come oldest first). It says, per node FQDN, why
// a node disagrees.
func agreement(members []member) (cluster record, why map[string][]string) {
	why = map[string][]string{}
	if len(members) == 0 {
		return record{}, why
	}
	count := map[string]int{}
	first := map[string]int{}
	for i, m := range members {
		k := settings(m.record)
		if _, ok := first[k]; !ok {
			first[k] = i
		}
		count[k]++
	}
	best := settings(members[0].record)
	for k, n := range count {
		if n > count[best] || n == count[best] && first[k] < first[best] {
			best = k
		}
	}
	cluster = members[first[best]].record
	for _, m := range members {
		if settings(m.record) == best {
			continue
		}
		var reasons []string
		if !slices.Equal(m.LocalDomains, cluster.LocalDomains) {
			reasons = append(reasons, fmt.Sprintf("--local-domain %s differs from the cluster's %s (held by %d of %d nodes)",
				list(m.LocalDomains), list(cluster.LocalDomains), count[best], len(members)))
		}
		if m.DefaultFederationRoutingDomain != cluster.DefaultFederationRoutingDomain {
			reasons = append(reasons, fmt.Sprintf("--default-federation-routing-domain %s differs from the cluster's %s (held by %d of %d nodes)",
				m.DefaultFederationRoutingDomain, cluster.DefaultFederationRoutingDomain, count[best], len(members)))
		}
		why[m.NodeFQDN] = reasons
	}
	return cluster, why
}

func list(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ",")
}

// View is GET /v1/cluster: read from the store now, so a node cut off from etcd answers
// store.ErrUnavailable rather than a list that may be stale.
func (c *Cluster) View(ctx context.Context) (api.Cluster, error) {
	rev, err := c.cfg.Store.Revision(ctx)
	if err != nil {
		return api.Cluster{}, err
	}
	out := api.Cluster{Store: api.StoreBolt, Revision: rev}
	o, err := c.cfg.Store.Get(ctx, api.KindFederationRoutingFQDN, state.SingletonKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return api.Cluster{}, err
	default:
		var f api.FederationRoutingFQDN
		if err := json.Unmarshal(o.Value, &f); err != nil {
			return api.Cluster{}, fmt.Errorf("stored routing FQDN: %w", err)
		}
		out.FederationRoutingFQDN = f.FQDN
	}
	if c.cfg.Etcd == nil {
		self := c.cfg.Self
		self.Revision, self.Started, self.LastSeen = c.cfg.Live.Load().Revision(), c.started, time.Now().UTC()
		self.Ready, self.Self = true, true
		self.LocalDomains = nonNil(self.LocalDomains)
		self.SIPAddresses, self.PublicAddresses = nonNil(self.SIPAddresses), nonNil(self.PublicAddresses)
		out.LocalDomains, out.DefaultFederationRoutingDomain = self.LocalDomains, self.DefaultFederationRoutingDomain
		out.Nodes = []api.ClusterNode{self}
		return out, nil
	}
	out.Store = api.StoreEtcd
	members, err := c.read(ctx)
	if err != nil {
		return api.Cluster{}, fmt.Errorf("%w: reading the node registrations: %v", store.ErrUnavailable, err)
	}
	all := c.withSelf(members)
	cl, why := agreement(all)
	out.LocalDomains, out.DefaultFederationRoutingDomain = nonNil(cl.LocalDomains), cl.DefaultFederationRoutingDomain
	out.Nodes = make([]api.ClusterNode, 0, len(all))
	for _, m := range all {
		n := api.ClusterNode{
			NodeFQDN: m.NodeFQDN, SIPAddresses: nonNil(m.SIPAddresses), AdminAddress: m.AdminAddress,
			PublicAddresses: nonNil(m.PublicAddresses), ExternalPort: m.ExternalPort, Version: m.Version,
			Revision: m.Revision, Started: m.Started, LocalDomains: nonNil(m.LocalDomains),
			DefaultFederationRoutingDomain: m.DefaultFederationRoutingDomain,
			NotReady:                       why[m.NodeFQDN], Self: m.NodeFQDN == c.cfg.Self.NodeFQDN,
		}
		if n.Self {
			// This node's own answer is fresher than its registration.
			n.Revision = c.cfg.Live.Load().Revision()
			if m.Instance != c.instance {
				n.NotReady = append(n.NotReady, "another process is registered under this node's FQDN")
			}
		}
		n.Ready = len(n.NotReady) == 0
		n.LastSeen = c.lastSeen(ctx, m)
		out.Nodes = append(out.Nodes, n)
	}
	slices.SortFunc(out.Nodes, func(a, b api.ClusterNode) int { return strings.Compare(a.NodeFQDN, b.NodeFQDN) })
	return out, nil
}

// lastSeen is when the node last renewed its lease: its keep-alive is its heartbeat, so the
// registry needs no periodic write (which would move etcd's revision for nothing).
func (c *Cluster) lastSeen(ctx context.Context, m member) time.Time {
	if m.lease == 0 {
		return time.Now().UTC()
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Etcd.RequestTimeout())
	defer cancel()
	ttl, err := c.cfg.Etcd.Client().TimeToLive(cctx, m.lease)
	if err != nil || ttl.TTL < 0 {
		return time.Time{}
	}
	// etcd counts the remaining TTL in whole seconds: a lease renewed a moment ago may look a
	// second older, never older than the node's start.
	seen := time.Now().UTC().Add(-time.Duration(ttl.GrantedTTL-ttl.TTL) * time.Second)
	if seen.Before(m.Started) {
		seen = m.Started
	}
	return seen.Truncate(time.Millisecond)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type metrics struct {
	reachable          prometheus.Gauge
	nodes              prometheus.Gauge
	ready              prometheus.Gauge
	registrationErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, clustered bool) (*metrics, error) {
	m := &metrics{
		reachable: telemetry.NewGauge(telemetry.MetricClusterStoreReachable,
			"1 while etcd answers this node; 0 while it is cut off (routing by the last snapshot, writes answer 503)."),
		nodes: telemetry.NewGauge(telemetry.MetricClusterNodes, "Nodes registered in the cluster, as last read."),
		ready: telemetry.NewGauge(telemetry.MetricClusterNodeReady,
			"1 when this node's flags agree with the cluster's (see GET /v1/cluster)."),
		registrationErrors: telemetry.NewCounter(telemetry.MetricClusterRegistrationLost,
			"Times this node's registration lease was lost and registered again."),
	}
	m.reachable.Set(1)
	m.ready.Set(1)
	m.nodes.Set(1)
	if !clustered {
		return m, nil
	}
	return m, telemetry.Register(reg, m.reachable, m.nodes, m.ready, m.registrationErrors)
}
