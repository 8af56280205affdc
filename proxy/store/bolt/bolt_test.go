package bolt

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

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPutGetConditions(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const kind = api.KindFederatedDomain

	tests := []struct {
		name    string
		op      func() error
		wantErr error
		wantRev uint64
	}{
		{"create", func() error {
			_, err := s.Put(ctx, kind, "a.com", []byte(`1`), store.Cond{MustNotExist: true}, "t")
			return err
		}, nil, 1},
		{"create again conflicts", func() error {
			_, err := s.Put(ctx, kind, "a.com", []byte(`2`), store.Cond{MustNotExist: true}, "t")
			return err
		}, store.ErrExists, 1},
		{"update of a missing key", func() error {
			_, err := s.Put(ctx, kind, "b.com", []byte(`2`), store.Cond{MustExist: true}, "t")
			return err
		}, store.ErrNotFound, 1},
		{"update with a stale revision", func() error {
			_, err := s.Put(ctx, kind, "a.com", []byte(`2`), store.Cond{ModRevision: 7}, "t")
			return err
		}, store.ErrRevisionMismatch, 1},
		{"update with the current revision", func() error {
			_, err := s.Put(ctx, kind, "a.com", []byte(`3`), store.Cond{MustExist: true, ModRevision: 1}, "t")
			return err
		}, nil, 2},
		{"delete with a stale revision", func() error {
			_, err := s.Delete(ctx, kind, "a.com", store.Cond{ModRevision: 1}, "t")
			return err
		}, store.ErrRevisionMismatch, 2},
		{"delete of a missing key", func() error {
			_, err := s.Delete(ctx, kind, "zzz.com", store.Cond{}, "t")
			return err
		}, store.ErrNotFound, 2},
	}
	for _, tc := range tests {
		err := tc.op()
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
		rev, _ := s.Revision(ctx)
		if rev != tc.wantRev {
			t.Fatalf("%s: revision = %d, want %d (a failed write must not bump it)", tc.name, rev, tc.wantRev)
		}
	}
	o, err := s.Get(ctx, kind, "a.com")
	if err != nil {
		t.Fatal(err)
	}
	if string(o.Value) != "3" || o.CreateRevision != 1 || o.ModRevision != 2 {
		t.Fatalf("got %+v, want value 3, create 1, mod 2", o)
	}
	if _, err := s.Get(ctx, kind, "b.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Put(ctx, api.KindStaticRoute, fmt.Sprintf("r%d", i), []byte(`{}`), store.Cond{}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, api.KindStaticRoute, "r2", store.Cond{}, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	objs, rev, err := s.List(ctx, api.KindStaticRoute)
	if err != nil {
		t.Fatal(err)
	}
	if rev != 6 || len(objs) != 4 {
		t.Fatalf("after reopen: revision %d with %d routes, want 6 with 4", rev, len(objs))
	}
	for _, o := range objs {
		if o.Key == "r2" {
			t.Fatal("deleted route came back")
		}
	}
}

func TestSecondOpenIsRefusedWhileLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("a second store opened the same file")
	}
}

func TestListAllReadsEveryKindAtOneRevision(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	mustPut(t, s, api.KindFederatedDomain, "a.com")
	mustPut(t, s, api.KindStaticRoute, "r1")
	mustPut(t, s, api.KindTLSPeerSubject, "edge.a.com")
	objs, rev, err := s.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev != 3 || len(objs) != 3 {
		t.Fatalf("ListAll: %d objects at revision %d, want 3 at 3", len(objs), rev)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.Kind] = true
	}
	if len(kinds) != 3 {
		t.Fatalf("kinds: %v", kinds)
	}
}

func mustPut(t testing.TB, s *Store, kind, key string) store.Object {
	t.Helper()
	o, err := s.Put(context.Background(), kind, key, []byte(`{"k":"`+key+`"}`), store.Cond{}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestChangesRecordTheAuditTrail(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	mustPut(t, s, api.KindFederatedDomain, "a.com")
	mustPut(t, s, api.KindFederatedDomain, "a.com")
	if _, err := s.Delete(ctx, api.KindFederatedDomain, "a.com", store.Cond{}, "alice"); err != nil {
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
	}{{1, api.ActionCreate, "tester"}, {2, api.ActionUpdate, "tester"}, {3, api.ActionDelete, "alice"}}
	if len(evs) != len(want) {
		t.Fatalf("%d changes, want %d", len(evs), len(want))
	}
	for i, w := range want {
		e := evs[i]
		if e.Revision != w.rev || e.Action != w.action || e.Actor != w.actor || e.Key != "a.com" || e.Time.IsZero() {
			t.Errorf("change %d = %+v, want rev %d %s by %s", i, e, w.rev, w.action, w.actor)
		}
	}
	if evs[2].Value != nil {
		t.Error("a delete carries no value")
	}
	since, err := s.Changes(ctx, 2, 0)
	if err != nil || len(since) != 1 || since[0].Revision != 3 {
		t.Fatalf("Changes(since 2) = %v, %v", since, err)
	}
}

// Concurrent writers share commits; every write must get its own revision and none may be lost,
// and a watcher must see them in revision order.
func TestConcurrentWritersAreSerialized(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := open(t, t.TempDir())
	w, err := s.Watch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs = map[uint64]bool{}
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
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	objs, rev, err := s.List(ctx, api.KindStaticRoute)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != writers*each || rev != writers*each {
		t.Fatalf("%d objects at revision %d, want %d at %d", len(objs), rev, writers*each, writers*each)
	}
	for want := uint64(1); want <= writers*each; want++ {
		select {
		case ev := <-w.C:
			if ev.Revision != want {
				t.Fatalf("watch delivered revision %d, want %d", ev.Revision, want)
			}
		case <-ctx.Done():
			t.Fatalf("watch stalled before revision %d", want)
		}
	}
}
