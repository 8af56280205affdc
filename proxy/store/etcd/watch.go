package etcd

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	etcd "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Watch streams configuration changes from fromRevision on. It follows config/ only: side
// records, the audit trail and node registrations never reach it.
//
// Events carry Revision, Kind, Key, Action and Value (the audit trail has the time and actor). A
// write that moved the configuration revision without changing an object (a fence, an audit
// import) arrives as a Progress event, so that every revision that Revision or a Txn returns is
// one the watch delivers.
//
// etcd may have compacted the history the watch asks for. When no configuration write happened
// since fromRevision, nothing is lost and the watch goes on from etcd's current revision;
// otherwise it ends with store.ErrCompacted and the watcher reloads. A lost connection is not an
// error: the watch resumes where it was when etcd is back.
func (s *Store) Watch(ctx context.Context, fromRevision uint64) (*store.Watch, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	if fromRevision == 0 {
		fromRevision = 1
	}
	ch := make(chan store.Event, 256)
	var (
		mu   sync.Mutex
		werr error
	)
	go func() {
		defer close(ch)
		err := s.follow(ctx, int64(fromRevision), ch)
		mu.Lock()
		werr = err
		mu.Unlock()
	}()
	return store.NewWatch(ch, func() error {
		mu.Lock()
		defer mu.Unlock()
		return werr
	}), nil
}

// follow runs etcd watches from rev on until ctx ends (nil) or the history is gone.
func (s *Store) follow(ctx context.Context, rev int64, ch chan<- store.Event) error {
	retry := 100 * time.Millisecond
	for {
		next, err := s.watchOnce(ctx, rev, ch)
		rev = max(rev, next)
		switch {
		case ctx.Err() != nil:
			return nil //nolint:nilerr // the caller ended the watch: not a failure
		case s.isClosed():
			return store.ErrClosed
		case errors.Is(err, store.ErrCompacted):
			return err
		}
		if err != nil {
			s.metrics.watchRestarts.Inc()
			s.cfg.Log.Warn("etcd watch interrupted; resuming", telemetry.KeyError, err, telemetry.KeyRevision, rev)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.closed:
			return store.ErrClosed
		case <-time.After(retry):
		}
		retry = min(retry*2, 2*time.Second)
	}
}

// watchOnce runs one etcd watch from rev; it returns the revision to resume from.
func (s *Store) watchOnce(ctx context.Context, rev int64, ch chan<- store.Event) (int64, error) {
	// Require a leader: a member cut off from its cluster would otherwise keep the watch open
	// and silent.
	wctx, cancel := context.WithCancel(etcd.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(wctx, s.k.config(), etcd.WithPrefix(), etcd.WithRev(rev)) {
		if resp.CompactRevision != 0 {
			// The history from rev is gone up to CompactRevision; lost only if a configuration
			// write happened in between, which the revision key at CompactRevision tells.
			cctx, cancel := s.call(ctx)
			at, err := s.cli.Get(cctx, s.k.rev(), etcd.WithRev(resp.CompactRevision))
			cancel()
			if err != nil {
				return rev, err
			}
			if len(at.Kvs) == 0 || at.Kvs[0].ModRevision < rev {
				return resp.CompactRevision, nil
			}
			return rev, store.ErrCompacted
		}
		if err := resp.Err(); err != nil {
			return rev, err
		}
		next, err := s.deliver(ctx, resp.Events, ch)
		if err != nil {
			return rev, err
		}
		rev = max(rev, next)
	}
	return rev, nil
}

// deliver sends the events of one watch response, revision by revision; it returns the revision
// after the last one.
func (s *Store) deliver(ctx context.Context, evs []*etcd.Event, ch chan<- store.Event) (int64, error) {
	var next int64
	for i := 0; i < len(evs); {
		r := evs[i].Kv.ModRevision
		changed := false
		for ; i < len(evs) && evs[i].Kv.ModRevision == r; i++ {
			ev, ok := s.event(evs[i])
			if !ok {
				continue
			}
			changed = true
			if err := send(ctx, ch, ev); err != nil {
				return next, err
			}
		}
		if !changed {
			if err := send(ctx, ch, store.Event{Revision: uint64(r), Progress: true}); err != nil {
				return next, err
			}
		}
		next = r + 1
	}
	return next, nil
}

func send(ctx context.Context, ch chan<- store.Event, ev store.Event) error {
	select {
	case ch <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// event turns an etcd event on an object into a store event; ok is false for the revision key.
func (s *Store) event(ev *etcd.Event) (store.Event, bool) {
	kind, key, ok := s.k.parseObject(string(ev.Kv.Key))
	if !ok {
		return store.Event{}, false
	}
	out := store.Event{Revision: uint64(ev.Kv.ModRevision), Kind: kind, Key: key}
	switch {
	case ev.Type == mvccpb.DELETE:
		out.Action = api.ActionDelete
	case ev.Kv.Version == 1:
		out.Action, out.Value = api.ActionCreate, ev.Kv.Value
	default:
		out.Action, out.Value = api.ActionUpdate, ev.Kv.Value
	}
	if out.Value == nil && out.Action != api.ActionDelete {
		out.Value = []byte{}
	}
	return out, true
}
