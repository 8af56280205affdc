package etcd

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

func openInternal(t *testing.T, endpoints []string, timeout time.Duration) *Store {
	t.Helper()
	s, err := Open(Config{Endpoints: endpoints, Prefix: "/r/", RequestTimeout: timeout, DialTimeout: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A write whose answer was lost is resolved: found committed when it did; fenced off, and so
// certainly not committed, when nothing followed it; unknown when etcd cannot be asked.
func TestResolveALostWrite(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	cut := etcdtest.NewCutter(t, srv.Endpoint())
	s := openInternal(t, []string{cut.Endpoint()}, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ops := []store.Op{{Kind: api.KindFederatedDomain, Key: "a.com", Value: []byte(`{}`)}}

	// Committed: the write is sent, its answer dropped; resolve finds it by its audit entry.
	st, err := s.read(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	txn, result, err := s.build(ctx, st, ops, "t", nil, "txn-1", true)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := txn.Commit()
	if err != nil || !resp.Succeeded {
		t.Fatal(resp, err)
	}
	committed, r, err := s.resolve(st.m, "txn-1", ops, true)
	if err != nil || !committed || r != uint64(resp.Header.Revision) {
		t.Fatalf("resolve a committed write: %v at %d, %v; want committed at %d", committed, r, err, resp.Header.Revision)
	}
	if got := result(r); got.Revision != r || got.Objects[0].ModRevision != r {
		t.Fatalf("result %+v", got)
	}

	// Not committed yet: resolve fences the revision key, so the write can never commit.
	w, err := s.Watch(ctx, r+1)
	if err != nil {
		t.Fatal(err)
	}
	ops2 := []store.Op{{Kind: api.KindFederatedDomain, Key: "b.com", Value: []byte(`{}`)}}
	st2, err := s.read(ctx, ops2)
	if err != nil {
		t.Fatal(err)
	}
	committed, _, err = s.resolve(st2.m, "txn-2", ops2, true)
	if err != nil || committed {
		t.Fatalf("resolve a write that never arrived: committed %v, %v", committed, err)
	}
	late, _, err := s.build(ctx, st2, ops2, "t", nil, "txn-2", true)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := late.Commit(); err != nil || resp.Succeeded {
		t.Fatalf("the fenced write arrived late and committed: %v %v", resp, err)
	}
	if _, err := s.Get(ctx, api.KindFederatedDomain, "b.com"); err == nil {
		t.Fatal("b.com exists")
	}
	// The fence moved the configuration revision: the watch says so, and the store's revision is it.
	fence, err := s.Revision(ctx)
	if err != nil || fence <= r {
		t.Fatalf("revision after the fence: %d, %v", fence, err)
	}
	select {
	case ev := <-w.C:
		if !ev.Progress || ev.Revision != fence {
			t.Fatalf("watch event %+v, want progress to %d", ev, fence)
		}
	case <-ctx.Done():
		t.Fatal("the fence's revision never reached the watch")
	}

	// etcd out of reach: unknown.
	cut.Cut()
	if _, _, err := s.resolve(fence, "txn-3", ops2, true); err == nil {
		t.Fatal("resolve with etcd cut off answered")
	}
	cut.Restore()

	// A side-only write is found by its records.
	side := []store.Op{{Kind: "idempotency-key", Key: "k", Value: []byte(`x`), Side: true}}
	st3, err := s.read(ctx, side)
	if err != nil {
		t.Fatal(err)
	}
	txn, _, err = s.build(ctx, st3, side, "t", nil, "txn-4", false)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := txn.Commit(); err != nil || !resp.Succeeded {
		t.Fatal(resp, err)
	}
	committed, r, err = s.resolve(st3.m, "txn-4", side, false)
	if err != nil || !committed || r != st3.m {
		t.Fatalf("resolve a side-only write: %v at %d, %v", committed, r, err)
	}
	if _, _, err := s.resolve(st3.m, "txn-5", side, false); err == nil {
		t.Fatal("a side-only write that did not happen was resolved")
	}
}

// Conflicting writers retry on the revision key: none fails, none is lost.
func TestConcurrentWritersThroughSeveralClients(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	var stores []*Store
	for range 3 {
		// Ten writes wait their turn on each node: on a loaded test machine that takes a while.
		stores = append(stores, openInternal(t, srv.Endpoints(), 30*time.Second))
	}
	ctx := context.Background()
	done := make(chan error, 30)
	for i := range 30 {
		go func() {
			_, err := stores[i%3].Put(ctx, api.KindStaticRoute, string(rune('a'+i)), []byte(`{}`), store.Cond{MustNotExist: true}, "t")
			done <- err
		}()
	}
	for range 30 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	evs, err := stores[0].Changes(ctx, 0, 0)
	if err != nil || len(evs) != 30 {
		t.Fatalf("%d audit entries, %v; want 30", len(evs), err)
	}
	cli := srv.Client(t)
	resp, err := cli.Get(ctx, "/r/audit/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 30 {
		t.Fatalf("audit keys: %v %v", resp, err)
	}
}
