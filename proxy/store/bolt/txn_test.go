package bolt

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

const sideKind = "idempotency-key"

func TestTxnIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const kind = api.KindFederatedDomain
	if _, err := s.Put(ctx, kind, "a.com", []byte(`1`), store.Cond{}, "t"); err != nil {
		t.Fatal(err)
	}
	// The second op's condition fails: the first must not be written, nor the side record.
	_, err := s.Txn(ctx, []store.Op{
		{Kind: kind, Key: "b.com", Value: []byte(`2`), Cond: store.Cond{MustNotExist: true}},
		{Kind: kind, Key: "a.com", Value: []byte(`3`), Cond: store.Cond{MustNotExist: true}},
		{Kind: sideKind, Key: "k1", Value: []byte(`r`), Side: true},
	}, "t")
	var ce *store.CondError
	if !errors.As(err, &ce) || ce.Index != 1 || !errors.Is(err, store.ErrExists) {
		t.Fatalf("err = %v, want a CondError at op 1 wrapping ErrExists", err)
	}
	for _, k := range []struct{ kind, key string }{{kind, "b.com"}, {sideKind, "k1"}} {
		if _, err := s.Get(ctx, k.kind, k.key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s/%s after a failed Txn: err = %v, want ErrNotFound", k.kind, k.key, err)
		}
	}
	if rev, _ := s.Revision(ctx); rev != 1 {
		t.Errorf("revision after a failed Txn = %d, want 1", rev)
	}
}

func TestTxnRevisionsAndSideRecords(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const kind = api.KindStaticRoute
	res, err := s.Txn(ctx, []store.Op{
		{Kind: kind, Key: "r1", Value: []byte(`1`), Cond: store.Cond{MustNotExist: true}},
		{Kind: sideKind, Key: "k1", Value: []byte(`resp`), Side: true, Cond: store.Cond{MustNotExist: true}, TTL: time.Hour},
		{Kind: kind, Key: "r2", Value: []byte(`2`)},
	}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 2 || res.Objects[0].ModRevision != 1 || res.Objects[2].ModRevision != 2 {
		t.Fatalf("revisions: txn %d, ops %d and %d; want 2, 1 and 2", res.Revision, res.Objects[0].ModRevision, res.Objects[2].ModRevision)
	}
	if res.Objects[1].ModRevision != 2 {
		t.Errorf("side record revision = %d, want the Txn's 2", res.Objects[1].ModRevision)
	}
	o, err := s.Get(ctx, sideKind, "k1")
	if err != nil || string(o.Value) != "resp" || o.ModRevision != 2 {
		t.Fatalf("side record = %+v, %v", o, err)
	}
	// Side records stay out of the configuration: no audit entry, no ListAll.
	evs, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Key != "r1" || evs[1].Key != "r2" || evs[1].Actor != "alice" {
		t.Errorf("audit trail = %+v, want r1 then r2 by alice", evs)
	}
	all, _, err := s.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if o.Kind == sideKind {
			t.Errorf("ListAll returned side record %s", o.Key)
		}
	}
	// A side-only Txn changes no revision.
	res, err = s.Txn(ctx, []store.Op{{Kind: sideKind, Key: "k2", Value: []byte(`x`), Side: true}}, "t")
	if err != nil || res.Revision != 2 {
		t.Fatalf("side-only Txn: revision %d, %v; want 2", res.Revision, err)
	}
	if rev, _ := s.Revision(ctx); rev != 2 {
		t.Errorf("store revision after a side-only Txn = %d, want 2", rev)
	}
	// A second create of the same side key conflicts, as a concurrent retry with one key must.
	_, err = s.Txn(ctx, []store.Op{{Kind: sideKind, Key: "k1", Value: []byte(`y`), Side: true, Cond: store.Cond{MustNotExist: true}}}, "t")
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("second create of a side key: err = %v, want ErrExists", err)
	}
}

func TestSideRecordsExpire(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	if _, err := s.Txn(ctx, []store.Op{
		{Kind: sideKind, Key: "short", Value: []byte(`1`), Side: true, TTL: time.Hour},
		{Kind: sideKind, Key: "forever", Value: []byte(`2`), Side: true},
	}, "t"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Minute)
	if _, err := s.Get(ctx, sideKind, "short"); err != nil {
		t.Fatalf("before its TTL: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Get(ctx, sideKind, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after its TTL: err = %v, want ErrNotFound", err)
	}
	// An expired key can be taken again, and the write that does so purges it from the file.
	if _, err := s.Txn(ctx, []store.Op{{Kind: sideKind, Key: "short", Value: []byte(`3`), Side: true, Cond: store.Cond{MustNotExist: true}, TTL: time.Hour}}, "t"); err != nil {
		t.Fatalf("re-taking an expired key: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.Txn(ctx, []store.Op{{Kind: sideKind, Key: "other", Value: []byte(`4`), Side: true}}, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	s.now = func() time.Time { return now }
	for key, want := range map[string]bool{"short": false, "forever": true, "other": true} {
		_, err := s.Get(ctx, sideKind, key)
		if got := err == nil; got != want {
			t.Errorf("%s present after purge and reopen = %v, want %v (err %v)", key, got, want, err)
		}
	}
}
