// Package state keeps the proxy's live routing snapshot in step with the store. A single syncer
// reads the store once, then follows its watch and swaps in a new immutable snapshot after each
// batch of changes; the SIP path reads the snapshot through one atomic pointer and takes no lock.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// SingletonKey is the store key of the singleton kinds (routing FQDN, federation service).
const SingletonKey = "current"

// Live holds the current snapshot.
type Live struct {
	p atomic.Pointer[routing.Snapshot]

	mu      sync.Mutex
	swapped chan struct{} // closed and replaced on every swap: wakes WaitRevision
}

// NewLive returns a holder with an initial snapshot.
func NewLive(initial *routing.Snapshot) *Live {
	l := &Live{swapped: make(chan struct{})}
	l.p.Store(initial)
	return l
}

// Load returns the current snapshot.
func (l *Live) Load() *routing.Snapshot { return l.p.Load() }

// Store swaps in a new snapshot.
func (l *Live) Store(s *routing.Snapshot) {
	l.p.Store(s)
	l.mu.Lock()
	close(l.swapped)
	l.swapped = make(chan struct{})
	l.mu.Unlock()
}

// WaitRevision returns once the live snapshot includes revision rev: what an admin write waits for
// before it answers, so that a 2xx means "durable and routing by it".
func (l *Live) WaitRevision(ctx context.Context, rev uint64) error {
	for {
		l.mu.Lock()
		ch := l.swapped
		l.mu.Unlock()
		if l.Load().Revision() >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for revision %d to go live: %w", rev, ctx.Err())
		}
	}
}

// Syncer follows the store and keeps Live current.
type Syncer struct {
	store store.Store
	opts  routing.Options
	live  *Live
	log   *slog.Logger
	cfg   routing.Config
	// pending names the objects changed since the last swap, so that the next snapshot copies
	// only what they touch instead of rebuilding 100k routes.
	pending routing.Changes
	// ready is closed once the first snapshot from the store is live.
	ready     chan struct{}
	readyOnce sync.Once
	// OnSwap, if set, is told each snapshot swapped in, with how long the build took.
	OnSwap func(s *routing.Snapshot, build time.Duration)
}

// NewSyncer returns a syncer; Live starts with an empty snapshot at revision 0 until Run loads
// the store.
func NewSyncer(st store.Store, opts routing.Options, log *slog.Logger) *Syncer {
	s := &Syncer{store: st, opts: opts, log: log, ready: make(chan struct{})}
	s.cfg = emptyConfig()
	s.live = NewLive(routing.Build(&s.cfg, opts))
	return s
}

func emptyConfig() routing.Config {
	return routing.Config{
		Domains:        map[string]api.FederatedDomain{},
		Routes:         map[string]api.StaticRoute{},
		PeerSubjects:   map[string]api.TLSPeerSubject{},
		ServiceEnabled: true,
	}
}

// Live is the holder the syncer keeps current.
func (s *Syncer) Live() *Live { return s.live }

// Ready is closed once the store's state is live.
func (s *Syncer) Ready() <-chan struct{} { return s.ready }

// Run loads the store and follows it until ctx ends. A broken watch (compaction, store restart)
// leads to a full reload, never to a stale snapshot that looks current.
func (s *Syncer) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.follow(ctx)
		switch {
		case ctx.Err() != nil:
			// Stopped on purpose; whatever follow returned is a consequence.
		case errors.Is(err, store.ErrClosed):
			return err
		default:
			s.log.Error("store watch ended; reloading", telemetry.KeyError, err, telemetry.KeyRetryIn, backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}
	return nil
}

func (s *Syncer) follow(ctx context.Context) error {
	objs, rev, err := s.store.ListAll(ctx)
	if err != nil {
		return fmt.Errorf("loading configuration: %w", err)
	}
	cfg := emptyConfig()
	for _, o := range objs {
		if err := apply(&cfg, o.Kind, o.Key, o.Value); err != nil {
			return err
		}
	}
	cfg.Revision = rev
	s.cfg = cfg
	s.pending = routing.Changes{}
	s.publish(routing.Build(&s.cfg, s.opts), time.Now())
	s.readyOnce.Do(func() { close(s.ready) })

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.store.Watch(wctx, rev+1)
	if err != nil {
		return err
	}
	for {
		ev, ok := <-w.C
		if !ok {
			if err := w.Err(); err != nil {
				return err
			}
			return ctx.Err()
		}
		if err := s.applyEvent(ev); err != nil {
			return err
		}
		// Changes that arrived meanwhile go into the same snapshot: under a burst of writes the
		// proxy builds once per burst, not once per write.
	drain:
		for {
			select {
			case ev, ok := <-w.C:
				if !ok {
					break drain
				}
				if err := s.applyEvent(ev); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		s.swap()
	}
}

func (s *Syncer) applyEvent(ev store.Event) error {
	if ev.Progress {
		// The store's revision moved without a configuration change (etcd: a fence, an audit
		// import): the next snapshot carries it, so that a write waiting for it goes on.
		s.cfg.Revision = max(s.cfg.Revision, ev.Revision)
		return nil
	}
	if err := apply(&s.cfg, ev.Kind, ev.Key, ev.Value); err != nil {
		return err
	}
	s.cfg.Revision = ev.Revision
	s.pending.Add(ev.Kind, ev.Key)
	return nil
}

// swap publishes a snapshot with the pending changes applied to the live one.
func (s *Syncer) swap() {
	start := time.Now()
	snap := s.live.Load().Update(&s.cfg, s.pending)
	s.pending = routing.Changes{}
	s.publish(snap, start)
}

func (s *Syncer) publish(snap *routing.Snapshot, start time.Time) {
	took := time.Since(start)
	s.live.Store(snap)
	if s.OnSwap != nil {
		s.OnSwap(snap, took)
	}
	s.log.Debug("snapshot swapped", telemetry.KeyRevision, snap.Revision(), telemetry.KeyDuration, took)
}

// apply sets (value != nil) or removes (value == nil) one object in cfg.
func apply(cfg *routing.Config, kind, key string, value []byte) error {
	del := value == nil
	var err error
	switch kind {
	case api.KindFederatedDomain:
		if del {
			delete(cfg.Domains, key)
			return nil
		}
		var d api.FederatedDomain
		if err = json.Unmarshal(value, &d); err == nil {
			cfg.Domains[key] = d
		}
	case api.KindStaticRoute:
		if del {
			delete(cfg.Routes, key)
			return nil
		}
		var r api.StaticRoute
		if err = json.Unmarshal(value, &r); err == nil {
			cfg.Routes[key] = r
		}
	case api.KindTLSPeerSubject:
		if del {
			delete(cfg.PeerSubjects, key)
			return nil
		}
		var p api.TLSPeerSubject
		if err = json.Unmarshal(value, &p); err == nil {
			cfg.PeerSubjects[key] = p
		}
	case api.KindFederationRoutingFQDN:
		if del {
			cfg.RoutingFQDN = ""
			return nil
		}
		var f api.FederationRoutingFQDN
		if err = json.Unmarshal(value, &f); err == nil {
			cfg.RoutingFQDN = f.FQDN
		}
	case api.KindFederationService:
		if del {
			cfg.ServiceEnabled = true
			return nil
		}
		var f api.FederationService
		if err = json.Unmarshal(value, &f); err == nil {
			cfg.ServiceEnabled = f.Enabled
		}
	default:
		// A kind this version does not know (written by a newer node): ignore it rather than
		// refuse to route.
		return nil
	}
	if err != nil {
		return fmt.Errorf("store holds an invalid %s %q: %w", kind, key, err)
	}
	return nil
}
