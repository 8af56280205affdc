package state_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

func openEtcd(t *testing.T, endpoint string) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(etcd.Config{Endpoints: []string{endpoint}, Prefix: "/state/", RequestTimeout: 2 * time.Second,
		DialTimeout: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func runSyncer(t *testing.T, st store.Store) *state.Syncer {
	t.Helper()
	syncer := state.NewSyncer(st, routing.Options{NodeFQDN: "n.example.com"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = syncer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-syncer.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("syncer not ready")
	}
	return syncer
}

func waitLive(t *testing.T, l *state.Live, rev uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := l.WaitRevision(ctx, rev); err != nil {
		t.Fatalf("revision %d not live (live at %d): %v", rev, l.Load().Revision(), err)
	}
}

// A node cut off from etcd while its history is compacted catches up through a full reload.
func TestSyncerReloadsAfterCompactionOnEtcd(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	cut := etcdtest.NewCutter(t, srv.Endpoint())
	node := openEtcd(t, cut.Endpoint())
	other := openEtcd(t, srv.Endpoint())
	syncer := runSyncer(t, node)

	rev := put(t, other, api.KindFederatedDomain, "a.com", api.FederatedDomain{Domain: "a.com", Type: "lync"})
	waitLive(t, syncer.Live(), rev)

	cut.Cut()
	put(t, other, api.KindFederatedDomain, "b.com", api.FederatedDomain{Domain: "b.com", Type: "lync"})
	if _, err := other.Delete(context.Background(), api.KindFederatedDomain, "a.com", store.Cond{}, "t"); err != nil {
		t.Fatal(err)
	}
	last := put(t, other, api.KindFederatedDomain, "c.com", api.FederatedDomain{Domain: "c.com", Type: "lync"})
	srv.Compact(t)
	if got := syncer.Live().Load().Revision(); got != rev {
		t.Fatalf("a node cut off moved to revision %d", got)
	}
	if _, ok := syncer.Live().Load().Domain("a.com"); !ok {
		t.Fatal("a node cut off stopped routing by its last snapshot")
	}
	cut.Restore()
	waitLive(t, syncer.Live(), last)
	snap := syncer.Live().Load()
	_, a := snap.Domain("a.com")
	_, b := snap.Domain("b.com")
	_, c := snap.Domain("c.com")
	if a || !b || !c {
		t.Fatalf("after the reload: a %v b %v c %v, want false true true", a, b, c)
	}
}

// Every revision a write can answer is one the syncer reaches, also when no configuration
// event carries it (etcd: an audit import moves the configuration revision alone).
func TestWaitRevisionReachesARevisionWithoutEvents(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	st := openEtcd(t, srv.Endpoint())
	syncer := runSyncer(t, st)
	if err := st.ImportAudit(context.Background(), []store.Event{{Revision: 7, Time: time.Now(), Kind: api.KindFederatedDomain,
		Key: "x.com", Action: api.ActionDelete, Actor: "ops"}}); err != nil {
		t.Fatal(err)
	}
	rev, err := st.Revision(context.Background())
	if err != nil || rev == 0 {
		t.Fatal(rev, err)
	}
	waitLive(t, syncer.Live(), rev)
	// A side-only write answers that revision too, which is live already.
	res, err := st.Txn(context.Background(), []store.Op{{Kind: "idempotency-key", Key: "k", Value: []byte(`x`), Side: true}}, "t")
	if err != nil || res.Revision != rev {
		t.Fatalf("side-only Txn: %+v, %v; want revision %d", res, err, rev)
	}
	waitLive(t, syncer.Live(), res.Revision)
}
