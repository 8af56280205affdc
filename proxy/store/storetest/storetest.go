// Package storetest is the store.Store contract as a test suite: every backend (bbolt, etcd) runs
// it, so that the admin API and the syncer see one behaviour whatever is underneath.
//
// The contract speaks of revisions in relative terms only: a backend may number every write
// densely (bbolt) or share its revisions with other writers (etcd, where a Txn's ops share one
// revision and records that are not configuration move etcd's counter too).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// Backend opens stores for the suite.
type Backend struct {
	// Open returns a new, empty store; the backend closes it when the test ends.
	Open func(t *testing.T) store.Store
	// Reopen closes s and opens the same data again, as a restarted process would.
	Reopen func(t *testing.T, s store.Store) store.Store
}

// SideKind is the kind of the side records the suite writes.
const SideKind = "idempotency-key"

// Run runs the contract against a backend.
func Run(t *testing.T, b Backend) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"PutGetConditions", testPutGetConditions},
		{"PersistsAcrossReopen", testPersistsAcrossReopen},
		{"ListAllReadsEveryKindAtOneRevision", testListAll},
		{"ChangesRecordTheAuditTrail", testChanges},
		{"ChangesPageWithoutLosingAWrite", testChangesPaging},
		{"WatchReplaysHistoryThenFollows", testWatchReplays},
		{"WatchEndsWithErrClosed", testWatchClosed},
		{"ConcurrentWritersAreSerialized", testConcurrentWriters},
		{"TxnIsAllOrNothing", testTxnAllOrNothing},
		{"TxnRevisionsAndSideRecords", testTxnSideRecords},
		{"SideRecordsExpire", testSideRecordsExpire},
		{"SideRecordsCanBeDeleted", testSideDelete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, s store.Store, kind, key string) store.Object {
	t.Helper()
	o, err := s.Put(context.Background(), kind, key, []byte(`{"k":"`+key+`"}`), store.Cond{}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func revision(t *testing.T, s store.Store) uint64 {
	t.Helper()
	r, err := s.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testPutGetConditions(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	const kind = api.KindFederatedDomain
	if r := revision(t, s); r != 0 {
		t.Fatalf("an empty store is at revision %d, want 0", r)
	}
	created, err := s.Put(ctx, kind, "a.com", []byte(`1`), store.Cond{MustNotExist: true}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if created.ModRevision == 0 || created.CreateRevision != created.ModRevision || revision(t, s) != created.ModRevision {
		t.Fatalf("create: %+v at store revision %d; want create = mod = store revision > 0", created, revision(t, s))
	}
	failing := []struct {
		name    string
		op      func() error
		wantErr error
	}{
		{"create again conflicts", func() error {
			_, err := s.Put(ctx, kind, "a.com", []byte(`2`), store.Cond{MustNotExist: true}, "t")
			return err
		}, store.ErrExists},
		{"update of a missing key", func() error {
			_, err := s.Put(ctx, kind, "b.com", []byte(`2`), store.Cond{MustExist: true}, "t")
			return err
		}, store.ErrNotFound},
		{"update with a stale revision", func() error {
			_, err := s.Put(ctx, kind, "a.com", []byte(`2`), store.Cond{ModRevision: created.ModRevision + 1000}, "t")
			return err
		}, store.ErrRevisionMismatch},
		{"delete of a missing key", func() error {
			_, err := s.Delete(ctx, kind, "zzz.com", store.Cond{}, "t")
			return err
		}, store.ErrNotFound},
	}
	for _, tc := range failing {
		if err := tc.op(); !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
		if r := revision(t, s); r != created.ModRevision {
			t.Fatalf("%s: revision = %d, want %d (a failed write must not move it)", tc.name, r, created.ModRevision)
		}
	}
	updated, err := s.Put(ctx, kind, "a.com", []byte(`3`), store.Cond{MustExist: true, ModRevision: created.ModRevision}, "t")
	if err != nil {
		t.Fatalf("update with the current revision: %v", err)
	}
	if updated.ModRevision <= created.ModRevision || updated.CreateRevision != created.CreateRevision || revision(t, s) != updated.ModRevision {
		t.Fatalf("update: %+v after %+v at store revision %d", updated, created, revision(t, s))
	}
	if _, err := s.Delete(ctx, kind, "a.com", store.Cond{ModRevision: created.ModRevision}, "t"); !errors.Is(err, store.ErrRevisionMismatch) {
		t.Fatalf("delete with a stale revision: err = %v, want ErrRevisionMismatch", err)
	}
	o, err := s.Get(ctx, kind, "a.com")
	if err != nil {
		t.Fatal(err)
	}
	if string(o.Value) != "3" || o.CreateRevision != created.ModRevision || o.ModRevision != updated.ModRevision {
		t.Fatalf("got %+v, want value 3, create %d, mod %d", o, created.ModRevision, updated.ModRevision)
	}
	if _, err := s.Get(ctx, kind, "b.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	del, err := s.Delete(ctx, kind, "a.com", store.Cond{ModRevision: updated.ModRevision}, "t")
	if err != nil || del <= updated.ModRevision || revision(t, s) != del {
		t.Fatalf("delete with the current revision: revision %d, %v; store at %d", del, err, revision(t, s))
	}
	if _, err := s.Get(ctx, kind, "a.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
}

func testPersistsAcrossReopen(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	for i := range 5 {
		mustPut(t, s, api.KindStaticRoute, fmt.Sprintf("r%d", i))
	}
	last, err := s.Delete(ctx, api.KindStaticRoute, "r2", store.Cond{}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "forever", Value: []byte(`x`), Side: true}}, "t"); err != nil {
		t.Fatal(err)
	}
	s = b.Reopen(t, s)
	objs, rev, err := s.List(ctx, api.KindStaticRoute)
	if err != nil {
		t.Fatal(err)
	}
	if rev != last || len(objs) != 4 {
		t.Fatalf("after reopen: revision %d with %d routes, want %d with 4", rev, len(objs), last)
	}
	for i, o := range objs {
		if o.Key == "r2" {
			t.Fatal("deleted route came back")
		}
		if i > 0 && objs[i-1].Key >= o.Key {
			t.Fatalf("List is not ordered by key: %s before %s", objs[i-1].Key, o.Key)
		}
	}
	if _, err := s.Get(ctx, SideKind, "forever"); err != nil {
		t.Fatalf("side record after reopen: %v", err)
	}
}

func testListAll(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	mustPut(t, s, api.KindFederatedDomain, "a.com")
	mustPut(t, s, api.KindStaticRoute, "r1")
	last := mustPut(t, s, api.KindTLSPeerSubject, "edge.a.com")
	objs, rev, err := s.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev != last.ModRevision || len(objs) != 3 {
		t.Fatalf("ListAll: %d objects at revision %d, want 3 at %d", len(objs), rev, last.ModRevision)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.Kind] = true
	}
	if len(kinds) != 3 {
		t.Fatalf("kinds: %v", kinds)
	}
}

func testChanges(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	c := mustPut(t, s, api.KindFederatedDomain, "a.com")
	u := mustPut(t, s, api.KindFederatedDomain, "a.com")
	d, err := s.Delete(ctx, api.KindFederatedDomain, "a.com", store.Cond{}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		rev    uint64
		action string
		actor  string
	}{{c.ModRevision, api.ActionCreate, "tester"}, {u.ModRevision, api.ActionUpdate, "tester"}, {d, api.ActionDelete, "alice"}}
	if len(evs) != len(want) {
		t.Fatalf("%d changes, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		e := evs[i]
		if e.Revision != w.rev || e.Action != w.action || e.Actor != w.actor || e.Key != "a.com" || e.Time.IsZero() {
			t.Errorf("change %d = %+v, want rev %d %s by %s", i, e, w.rev, w.action, w.actor)
		}
	}
	if string(evs[1].Value) != `{"k":"a.com"}` {
		t.Errorf("an update carries the value written: %q", evs[1].Value)
	}
	if evs[2].Value != nil {
		t.Error("a delete carries no value")
	}
	since, err := s.Changes(ctx, u.ModRevision, 0)
	if err != nil || len(since) != 1 || since[0].Revision != d {
		t.Fatalf("Changes(since %d) = %+v, %v", u.ModRevision, since, err)
	}
	// since between two writes' revisions still finds the later one.
	if d > u.ModRevision+1 {
		mid, err := s.Changes(ctx, u.ModRevision+1, 0)
		if err != nil || len(mid) != 1 || mid[0].Revision != d {
			t.Fatalf("Changes(since %d) = %+v, %v", u.ModRevision+1, mid, err)
		}
	}
	none, err := s.Changes(ctx, d, 0)
	if err != nil || len(none) != 0 {
		t.Fatalf("Changes(since the last) = %+v, %v", none, err)
	}
}

// Paging by "since = the last revision seen" visits every change exactly once, also when a Txn
// wrote several objects.
func testChangesPaging(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	var want []string
	for i := range 4 {
		key := fmt.Sprintf("single%d", i)
		mustPut(t, s, api.KindStaticRoute, key)
		want = append(want, key)
		ops := make([]store.Op, 3)
		for j := range ops {
			ops[j] = store.Op{Kind: api.KindStaticRoute, Key: fmt.Sprintf("txn%d-%d", i, j), Value: []byte(`{}`)}
			want = append(want, ops[j].Key)
		}
		ops = append(ops, store.Op{Kind: SideKind, Key: fmt.Sprintf("k%d", i), Value: []byte(`r`), Side: true})
		if _, err := s.Txn(ctx, ops, "t"); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 2, 3, 5, 100} {
		var (
			got   []string
			since uint64
			prev  uint64
		)
		for page := 0; page < 100; page++ {
			evs, err := s.Changes(ctx, since, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if ev.Revision < prev || ev.Revision <= since {
					t.Fatalf("limit %d: revision %d after %d (since %d)", limit, ev.Revision, prev, since)
				}
				prev = ev.Revision
				got = append(got, ev.Key)
			}
			since = evs[len(evs)-1].Revision
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: paged through\n%v\nwant\n%v", limit, got, want)
		}
	}
}

func testWatchReplays(t *testing.T, b Backend) {
	ctx := ctxFor(t, 10*time.Second)
	s := b.Open(t)
	mustPut(t, s, api.KindFederatedDomain, "a.com")
	bo := mustPut(t, s, api.KindFederatedDomain, "b.com")
	w, err := s.Watch(ctx, bo.ModRevision)
	if err != nil {
		t.Fatal(err)
	}
	co := mustPut(t, s, api.KindFederatedDomain, "c.com")
	if _, err := s.Delete(ctx, api.KindFederatedDomain, "b.com", store.Cond{}, "t"); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key, action string
		rev         uint64
		value       bool
	}{{"b.com", api.ActionCreate, bo.ModRevision, true}, {"c.com", api.ActionCreate, co.ModRevision, true}, {"b.com", api.ActionDelete, 0, false}}
	for _, wt := range want {
		ev := next(t, ctx, w)
		if ev.Key != wt.key || ev.Action != wt.action || (wt.rev != 0 && ev.Revision != wt.rev) || (ev.Value != nil) != wt.value {
			t.Fatalf("event %+v, want %s %s at %d (value %v)", ev, wt.action, wt.key, wt.rev, wt.value)
		}
	}
}

// next is the watch's next configuration event, skipping progress events.
func next(t *testing.T, ctx context.Context, w *store.Watch) store.Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-w.C:
			if !ok {
				t.Fatalf("watch ended: %v", w.Err())
			}
			if ev.Progress {
				continue
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no watch event")
		}
	}
}

func testWatchClosed(t *testing.T, b Backend) {
	ctx := ctxFor(t, 10*time.Second)
	s := b.Open(t)
	w, err := s.Watch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	for range w.C {
	}
	if !errors.Is(w.Err(), store.ErrClosed) {
		t.Fatalf("Err = %v, want ErrClosed", w.Err())
	}
}

// Concurrent writers: every write gets its own revision and none is lost, and a watcher sees
// them in revision order.
func testConcurrentWriters(t *testing.T, b Backend) {
	ctx := ctxFor(t, 60*time.Second)
	s := b.Open(t)
	w, err := s.Watch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs = map[uint64]bool{}
		top  uint64
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				o, err := s.Put(ctx, api.KindStaticRoute, fmt.Sprintf("w%d-%d", i, j), []byte(`{}`), store.Cond{MustNotExist: true}, "t")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if revs[o.ModRevision] {
					t.Errorf("revision %d handed out twice", o.ModRevision)
				}
				revs[o.ModRevision] = true
				top = max(top, o.ModRevision)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	objs, rev, err := s.List(ctx, api.KindStaticRoute)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != writers*each || rev != top {
		t.Fatalf("%d objects at revision %d, want %d at %d", len(objs), rev, writers*each, top)
	}
	var last uint64
	for range writers * each {
		ev := next(t, ctx, w)
		if ev.Revision <= last || !revs[ev.Revision] {
			t.Fatalf("watch delivered revision %d after %d", ev.Revision, last)
		}
		last = ev.Revision
	}
}

func testTxnAllOrNothing(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	const kind = api.KindFederatedDomain
	first, err := s.Put(ctx, kind, "a.com", []byte(`1`), store.Cond{}, "t")
	if err != nil {
		t.Fatal(err)
	}
	// The second op's condition fails: the first must not be written, nor the side record.
	_, err = s.Txn(ctx, []store.Op{
		{Kind: kind, Key: "b.com", Value: []byte(`2`), Cond: store.Cond{MustNotExist: true}},
		{Kind: kind, Key: "a.com", Value: []byte(`3`), Cond: store.Cond{MustNotExist: true}},
		{Kind: SideKind, Key: "k1", Value: []byte(`r`), Side: true},
	}, "t")
	var ce *store.CondError
	if !errors.As(err, &ce) || ce.Index != 1 || !errors.Is(err, store.ErrExists) {
		t.Fatalf("err = %v, want a CondError at op 1 wrapping ErrExists", err)
	}
	for _, k := range []struct{ kind, key string }{{kind, "b.com"}, {SideKind, "k1"}} {
		if _, err := s.Get(ctx, k.kind, k.key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s/%s after a failed Txn: err = %v, want ErrNotFound", k.kind, k.key, err)
		}
	}
	if rev := revision(t, s); rev != first.ModRevision {
		t.Errorf("revision after a failed Txn = %d, want %d", rev, first.ModRevision)
	}
	// A failed side condition fails the whole Txn too.
	if _, err := s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "k0", Value: []byte(`x`), Side: true}}, "t"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Txn(ctx, []store.Op{
		{Kind: kind, Key: "c.com", Value: []byte(`4`)},
		{Kind: SideKind, Key: "k0", Value: []byte(`y`), Side: true, Cond: store.Cond{MustNotExist: true}},
	}, "t")
	if !errors.As(err, &ce) || ce.Index != 1 || !errors.Is(err, store.ErrExists) {
		t.Fatalf("err = %v, want a CondError at op 1 wrapping ErrExists", err)
	}
	if _, err := s.Get(ctx, kind, "c.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("c.com after a failed Txn: %v", err)
	}
}

func testTxnSideRecords(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	const kind = api.KindStaticRoute
	before := mustPut(t, s, api.KindFederatedDomain, "a.com")
	res, err := s.Txn(ctx, []store.Op{
		{Kind: kind, Key: "r1", Value: []byte(`1`), Cond: store.Cond{MustNotExist: true}},
		{Kind: SideKind, Key: "k1", Value: []byte(`resp`), Side: true, Cond: store.Cond{MustNotExist: true}, TTL: time.Hour},
		{Kind: kind, Key: "r2", Value: []byte(`2`)},
	}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := res.Objects[0].ModRevision, res.Objects[2].ModRevision
	if r1 <= before.ModRevision || r2 < r1 || res.Revision != r2 || revision(t, s) != r2 {
		t.Fatalf("revisions: txn %d, ops %d and %d, store %d; want %d < op 0 <= op 2 = txn = store",
			res.Revision, r1, r2, revision(t, s), before.ModRevision)
	}
	if res.Objects[0].CreateRevision != r1 || string(res.Objects[2].Value) != "2" {
		t.Errorf("objects written: %+v", res.Objects)
	}
	if res.Objects[1].ModRevision != res.Revision {
		t.Errorf("side record revision = %d, want the Txn's %d", res.Objects[1].ModRevision, res.Revision)
	}
	o, err := s.Get(ctx, SideKind, "k1")
	if err != nil || string(o.Value) != "resp" || o.ModRevision != res.Revision {
		t.Fatalf("side record = %+v, %v", o, err)
	}
	// Side records stay out of the configuration: no audit entry, no ListAll, no watch event.
	evs, err := s.Changes(ctx, before.ModRevision, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Key != "r1" || evs[1].Key != "r2" || evs[1].Actor != "alice" || evs[0].Revision != r1 || evs[1].Revision != r2 {
		t.Errorf("audit trail = %+v, want r1 at %d then r2 at %d by alice", evs, r1, r2)
	}
	all, _, err := s.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if o.Kind == SideKind {
			t.Errorf("ListAll returned side record %s", o.Key)
		}
	}
	wctx := ctxFor(t, 10*time.Second)
	w, err := s.Watch(wctx, before.ModRevision+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"r1", "r2"} {
		if ev := next(t, wctx, w); ev.Key != want {
			t.Fatalf("watch event %+v, want %s", ev, want)
		}
	}
	// A side-only Txn changes no revision: it answers the store's revision, and its record has it.
	res, err = s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "k2", Value: []byte(`x`), Side: true}}, "t")
	if err != nil || res.Revision != r2 || res.Objects[0].ModRevision != r2 {
		t.Fatalf("side-only Txn: revision %d (record %+v), %v; want %d", res.Revision, res.Objects, err, r2)
	}
	if rev := revision(t, s); rev != r2 {
		t.Errorf("store revision after a side-only Txn = %d, want %d", rev, r2)
	}
	if o, err := s.Get(ctx, SideKind, "k2"); err != nil || o.ModRevision != r2 {
		t.Errorf("side-only record = %+v, %v; want revision %d", o, err, r2)
	}
	// A second create of the same side key conflicts, as a concurrent retry with one key must.
	_, err = s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "k1", Value: []byte(`y`), Side: true, Cond: store.Cond{MustNotExist: true}}}, "t")
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("second create of a side key: err = %v, want ErrExists", err)
	}
	// The next configuration event the watch delivers is the next configuration write.
	r3 := mustPut(t, s, kind, "r3")
	if ev := next(t, wctx, w); ev.Key != "r3" || ev.Revision != r3.ModRevision {
		t.Fatalf("watch event %+v, want r3 at %d", ev, r3.ModRevision)
	}
}

func testSideRecordsExpire(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	const ttl = time.Second
	start := time.Now()
	if _, err := s.Txn(ctx, []store.Op{
		{Kind: SideKind, Key: "short", Value: []byte(`1`), Side: true, TTL: ttl},
		{Kind: SideKind, Key: "forever", Value: []byte(`2`), Side: true},
	}, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, SideKind, "short"); err != nil && time.Since(start) < ttl {
		t.Fatalf("before its TTL: %v", err)
	}
	time.Sleep(time.Until(start.Add(ttl + 200*time.Millisecond)))
	if _, err := s.Get(ctx, SideKind, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after its TTL: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, SideKind, "forever"); err != nil {
		t.Fatalf("a record without TTL: %v", err)
	}
	// An expired key can be taken again.
	if _, err := s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "short", Value: []byte(`3`), Side: true, Cond: store.Cond{MustNotExist: true}, TTL: time.Hour}}, "t"); err != nil {
		t.Fatalf("re-taking an expired key: %v", err)
	}
	if o, err := s.Get(ctx, SideKind, "short"); err != nil || string(o.Value) != "3" {
		t.Fatalf("re-taken key = %+v, %v", o, err)
	}
}

func testSideDelete(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.Open(t)
	if _, err := s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "k", Value: []byte(`1`), Side: true, TTL: time.Hour}}, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "k", Side: true, Delete: true}}, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, SideKind, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	_, err := s.Txn(ctx, []store.Op{{Kind: SideKind, Key: "k", Side: true, Delete: true}}, "t")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing side record: %v, want ErrNotFound", err)
	}
}
