package etcd_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

func openStore(t *testing.T, endpoints []string, timeout time.Duration) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(etcd.Config{Endpoints: endpoints, Prefix: "/t/", RequestTimeout: timeout, DialTimeout: timeout,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func put(t *testing.T, s store.Store, key string) store.Object {
	t.Helper()
	o, err := s.Put(context.Background(), api.KindFederatedDomain, key, []byte(`{}`), store.Cond{}, "t")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Compaction: a watch from a compacted revision goes on when no configuration write happened
// since (records that are not configuration moved etcd's revision), and ends with ErrCompacted
// when one did, so that the watcher reloads.
func TestWatchAcrossCompaction(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	s := openStore(t, srv.Endpoints(), 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := put(t, s, "a.com")
	// Side records and foreign keys move etcd's revision past a, then history is compacted.
	for i := range 5 {
		if _, err := s.Txn(ctx, []store.Op{{Kind: "idempotency-key", Key: string(rune('a' + i)), Value: []byte(`x`), Side: true}}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	srv.Compact(t)
	w, err := s.Watch(ctx, a.ModRevision+1)
	if err != nil {
		t.Fatal(err)
	}
	b := put(t, s, "b.com")
	select {
	case ev := <-w.C:
		if ev.Key != "b.com" || ev.Revision != b.ModRevision {
			t.Fatalf("event %+v, want b.com at %d (watch: %v)", ev, b.ModRevision, w.Err())
		}
	case <-ctx.Done():
		t.Fatalf("no event after a compaction that lost nothing: %v", w.Err())
	}

	// Now a configuration write is compacted away before the watch reads it.
	c := put(t, s, "c.com")
	put(t, s, "d.com")
	srv.Compact(t)
	w2, err := s.Watch(ctx, c.ModRevision)
	if err != nil {
		t.Fatal(err)
	}
	for ev := range w2.C {
		t.Fatalf("event %+v from compacted history", ev)
	}
	if !errors.Is(w2.Err(), store.ErrCompacted) {
		t.Fatalf("watch ended with %v, want ErrCompacted", w2.Err())
	}
}

// etcd down: reads and writes fail with ErrUnavailable (503: nothing committed) within the
// request timeout; etcd back: the same client works again and nothing acknowledged is lost.
func TestUnavailableThenBack(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	s := openStore(t, srv.Endpoints(), time.Second)
	ctx := context.Background()
	a := put(t, s, "a.com")
	srv.Stop()
	start := time.Now()
	_, err := s.Put(ctx, api.KindFederatedDomain, "b.com", []byte(`{}`), store.Cond{}, "t")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write with etcd down: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("write with etcd down took %v", took)
	}
	if _, err := s.Get(ctx, api.KindFederatedDomain, "a.com"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("read with etcd down: %v, want ErrUnavailable", err)
	}
	srv.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err = s.Put(ctx, api.KindFederatedDomain, "b.com", []byte(`{}`), store.Cond{}, "t")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("write after etcd returned: %v", err)
	}
	o, err := s.Get(ctx, api.KindFederatedDomain, "a.com")
	if err != nil || o.ModRevision != a.ModRevision {
		t.Fatalf("acknowledged write after restart: %+v, %v", o, err)
	}
}

// Side records with a TTL live under a lease that outlives the TTL: idempotency keys are kept at
// least a day. Records without a TTL have no lease.
func TestSideRecordLeases(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	s := openStore(t, srv.Endpoints(), 5*time.Second)
	ctx := context.Background()
	_, err := s.Txn(ctx, []store.Op{
		{Kind: "idempotency-key", Key: "k1", Value: []byte(`r`), Side: true, TTL: 24 * time.Hour},
		{Kind: "idempotency-key", Key: "k2", Value: []byte(`r`), Side: true, TTL: 24 * time.Hour},
		{Kind: "deployment", Key: "route-marker-key", Value: []byte(`secret`), Side: true},
	}, "t")
	if err != nil {
		t.Fatal(err)
	}
	cli := srv.Client(t)
	var leases []clientv3.LeaseID
	for _, k := range []string{"/t/side/idempotency-key/k1", "/t/side/idempotency-key/k2", "/t/side/deployment/route-marker-key"} {
		resp, err := cli.Get(ctx, k)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("%s: %v %v", k, resp, err)
		}
		leases = append(leases, clientv3.LeaseID(resp.Kvs[0].Lease))
	}
	if leases[0] == 0 || leases[0] != leases[1] {
		t.Fatalf("leases %v: records written together with one TTL share one lease", leases)
	}
	if leases[2] != 0 {
		t.Fatal("a record without TTL is under a lease")
	}
	ttl, err := cli.TimeToLive(ctx, leases[0])
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(ttl.TTL)*time.Second < 24*time.Hour {
		t.Fatalf("lease TTL %d s, want at least 24 h", ttl.TTL)
	}
}

// store copy brings a single node's audit trail: each entry keeps its original revision, and the
// trail pages by this store's revisions.
func TestImportAuditKeepsOriginalRevisions(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	s := openStore(t, srv.Endpoints(), 5*time.Second)
	ctx := context.Background()
	var evs []store.Event
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 250 {
		evs = append(evs, store.Event{Revision: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Second),
			Kind: api.KindFederatedDomain, Key: "d.com", Action: api.ActionUpdate, Actor: "ops", Value: []byte(`{"n":1}`)})
	}
	if err := s.ImportAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	after := put(t, s, "new.com")
	var (
		got   []store.Event
		since uint64
	)
	for range 100 {
		page, err := s.Changes(ctx, since, 60)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		since = page[len(page)-1].Revision
	}
	if len(got) != 251 {
		t.Fatalf("paged %d entries, want 251", len(got))
	}
	for i, ev := range got[:250] {
		if ev.OriginalRevision != uint64(i+1) || !ev.Time.Equal(evs[i].Time) || ev.Actor != "ops" || string(ev.Value) != `{"n":1}` {
			t.Fatalf("entry %d = %+v", i, ev)
		}
		if i > 0 && ev.Revision < got[i-1].Revision {
			t.Fatalf("entry %d at revision %d after %d", i, ev.Revision, got[i-1].Revision)
		}
	}
	if last := got[250]; last.Key != "new.com" || last.Revision != after.ModRevision || last.OriginalRevision != 0 {
		t.Fatalf("last entry %+v", last)
	}
}

// A write that reaches etcd and commits, but whose answer is lost along with every answer after
// it: the store cannot learn the outcome, and says so (504 commit_unknown), rather than 503
// (which would let a client retry a create that is already there). It did commit.
func TestLostAnswerIsCommitUnknown(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	cut := etcdtest.NewCutter(t, srv.Endpoint())
	s := openStore(t, []string{cut.Endpoint()}, 2*time.Second)
	ctx := context.Background()
	put(t, s, "warm.com") // the connection is up, so only the big write below trips the cutter
	// Small enough for HTTP/2 flow control to let it all through without a window update from
	// the server (whose answers are lost), large enough to tell it from the reads before it.
	big := make([]byte, 20<<10)
	for i := range big {
		big[i] = 'x'
	}
	value := []byte(`{"description":"` + string(big) + `"}`)
	cut.LoseAnswers(30 << 10)
	_, err := s.Put(ctx, api.KindFederatedDomain, "big.com", value, store.Cond{MustNotExist: true}, "t")
	if !errors.Is(err, store.ErrCommitUnknown) {
		t.Fatalf("write whose answer was lost: %v, want ErrCommitUnknown", err)
	}
	cut.Restore()
	other := openStore(t, srv.Endpoints(), 5*time.Second)
	o, err := other.Get(ctx, api.KindFederatedDomain, "big.com")
	if err != nil || len(o.Value) != len(value) {
		t.Fatalf("the write was committed: %d bytes, %v", len(o.Value), err)
	}
	// The node's client recovers, and a retried create now finds the object.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err = s.Put(ctx, api.KindFederatedDomain, "big.com", value, store.Cond{MustNotExist: true}, "t")
		if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrCommitUnknown) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("create retried after the lost answer: %v, want ErrExists", err)
	}
}
