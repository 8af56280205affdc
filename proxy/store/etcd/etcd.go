// Package etcd is the cluster store: the configuration of every proxy node of a cluster in one
// etcd, behind the same store.Store as the embedded bbolt backend. Revisions are etcd revisions,
// conditional writes are etcd transactions, and every node follows one watch.
//
// Keys, under a prefix (default /sipfed/):
//
//	config/rev              the revision key: every configuration write compares and puts it, so
//	                        its ModRevision is the configuration's revision (Store.Revision)
//	config/o/<kind>/<key>   configuration objects; config/ is all that the nodes' watch follows
//	audit/<M>/<i>           the audit trail: change i of the write that followed configuration
//	                        revision M (both zero-padded decimals)
//	side/<kind>/<key>       side records (idempotency keys, the route-marker key); a TTL is a lease
//	nodes/<node-fqdn>       node registrations, each under its node's lease (package cluster)
//
// Why the revision key: etcd revisions count every write, side records and node registrations
// included, so the configuration needs a revision of its own that only configuration writes move,
// and the audit trail needs keys that sort in revision order although etcd assigns a write's
// revision only when it commits. The revision before a write is known, and since each
// configuration write compares it and moves it, it names that one write: audit/<M>/ holds the
// changes of the write that came after M, written in the same etcd transaction. A page of the
// trail is then one range read from a key, never a scan of the whole trail, and a write is
// durable with its audit entries or not at all. The price is that configuration writes are
// serialised on that key: concurrent writers retry their transaction, which costs little at the
// rate of admin writes.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// DefaultPrefix is where a cluster's keys live unless --etcd-prefix says otherwise; two clusters
// can share one etcd under two prefixes.
const DefaultPrefix = "/sipfed/"

// Config says how to reach etcd.
type Config struct {
	// Endpoints are client URLs, e.g. http://10.0.0.1:2379 or https://... with TLS.
	Endpoints []string
	// Prefix of every key; default DefaultPrefix. It always ends in "/".
	Prefix string
	// TLS, when set, is the client's TLS configuration (CA bundle, client certificate).
	TLS *tls.Config
	// DialTimeout bounds a connection attempt; default 5 s.
	DialTimeout time.Duration
	// RequestTimeout bounds one store call (a write's retries included); default 5 s.
	RequestTimeout time.Duration
	Log            *slog.Logger
	// Registerer receives the store's metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Store is an etcd-backed store.Store.
type Store struct {
	cli    *clientv3.Client
	cfg    Config
	k      keys
	leases leaseCache
	now    func() time.Time
	// writing holds a token while a write runs (see commit).
	writing chan struct{}
	metrics *metrics

	closeOnce sync.Once
	closed    chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open connects to etcd. It does not wait for a connection: the first call does, and fails with
// store.ErrUnavailable when etcd cannot be reached within the request timeout.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         cfg.TLS,
		DialTimeout: cfg.DialTimeout,
		// A dead connection (a black-holed etcd) is noticed within seconds, not at the kernel's
		// TCP timeout.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		PermitWithoutStream:  true,
		Logger:               zap.NewNop(),
		DialOptions: []grpc.DialOption{
			// gRPC's default reconnect backoff grows to two minutes: a node cut off from etcd for
			// a while would then catch up minutes after etcd returns. Two seconds at most.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: cfg.DialTimeout,
			}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return &Store{cli: cli, cfg: cfg, k: keys{cfg.Prefix}, now: time.Now, closed: make(chan struct{}),
		writing: make(chan struct{}, 1), metrics: m}, nil
}

// Client is the etcd client, for the cluster's node registry.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the prefix every key of this store lives under.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// NodesPrefix is where node registrations live: outside config/, so the configuration watch
// never sees them.
func (s *Store) NodesPrefix() string { return s.k.nodes() }

// RequestTimeout bounds one call.
func (s *Store) RequestTimeout() time.Duration { return s.cfg.RequestTimeout }

// Close closes the client and ends every watch with store.ErrClosed.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.cli.Close()
	})
	return err
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// keys builds the store's keys.
type keys struct{ prefix string }

func (k keys) config() string          { return k.prefix + "config/" }
func (k keys) rev() string             { return k.prefix + "config/rev" }
func (k keys) objects() string         { return k.prefix + "config/o/" }
func (k keys) kind(kind string) string { return k.objects() + kind + "/" }
func (k keys) object(kind, key string) string {
	return k.objects() + kind + "/" + key
}
func (k keys) side(kind, key string) string { return k.prefix + "side/" + kind + "/" + key }
func (k keys) audit() string                { return k.prefix + "audit/" }
func (k keys) auditGroup(m uint64) string   { return fmt.Sprintf("%s%020d/", k.audit(), m) }
func (k keys) auditEntry(m uint64, i int) string {
	return fmt.Sprintf("%s%05d", k.auditGroup(m), i)
}
func (k keys) nodes() string { return k.prefix + "nodes/" }

// parseObject splits an object key into kind and key; ok is false for any other key.
func (k keys) parseObject(full string) (kind, key string, ok bool) {
	rest, found := strings.CutPrefix(full, k.objects())
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}

// auditGroupOf is the M of an audit entry's key.
func (k keys) auditGroupOf(full string) (uint64, bool) {
	rest, found := strings.CutPrefix(full, k.audit())
	if !found {
		return 0, false
	}
	m, _, _ := strings.Cut(rest, "/")
	n, err := strconv.ParseUint(m, 10, 64)
	return n, err == nil
}

// call bounds one etcd call by the request timeout.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// unavailable turns a failed call into store.ErrUnavailable, unless the caller gave up first (its
// own context error is returned then) or the store was closed.
func (s *Store) unavailable(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.isClosed() {
		return store.ErrClosed
	}
	return fmt.Errorf("%w: etcd %s: %v", store.ErrUnavailable, strings.Join(s.cfg.Endpoints, ","), err)
}

func rev(kv *mvccpb.KeyValue) uint64 {
	if kv == nil {
		return 0
	}
	return uint64(kv.ModRevision)
}

// isRejected reports whether etcd answered the request with a refusal, so that it certainly did
// not apply it (as opposed to a timeout or a lost connection).
func isRejected(err error) bool {
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound), errors.Is(err, rpctypes.ErrTooManyOps),
		errors.Is(err, rpctypes.ErrDuplicateKey), errors.Is(err, rpctypes.ErrRequestTooLarge),
		errors.Is(err, rpctypes.ErrNoSpace):
		return true
	}
	return false
}
