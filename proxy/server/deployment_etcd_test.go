package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

// Nodes of a cluster starting at once agree on one deployment key, on etcd; a restart reads it
// back; it is not configuration. `store copy` moves it under the same names.
func TestDeploymentKeyIsCreatedOnceOnEtcd(t *testing.T) {
	if deploymentKind != state.KindDeployment || deploymentName != state.KeyRouteMarker {
		t.Fatalf("the deployment key is %s/%s here, %s/%s for store copy", deploymentKind, deploymentName, state.KindDeployment, state.KeyRouteMarker)
	}
	srv := etcdtest.StartEmbedded(t)
	open := func() store.Store {
		s, err := etcd.Open(etcd.Config{Endpoints: srv.Endpoints(), Prefix: "/deployment/", RequestTimeout: 10 * time.Second,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	stores := []store.Store{open(), open(), open()}
	keys := make([][]byte, len(stores))
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := deploymentKey(context.Background(), st)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for i := range keys {
		if len(keys[i]) == 0 || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("node %d has key %x, node 0 %x", i, keys[i], keys[0])
		}
	}
	again, err := deploymentKey(context.Background(), open())
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatalf("after a restart: %x, %v", again, err)
	}
	if rev, _ := stores[0].Revision(context.Background()); rev != 0 {
		t.Fatalf("making the key moved the configuration revision to %d", rev)
	}
	if objs, _, _ := stores[0].ListAll(context.Background()); len(objs) != 0 {
		t.Fatalf("ListAll: %+v", objs)
	}
	if evs, _ := stores[0].Changes(context.Background(), 0, 0); len(evs) != 0 {
		t.Fatalf("audit trail: %+v", evs)
	}

	// store copy from bbolt brings the same key along.
	dir := t.TempDir()
	b, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k1, err := deploymentKey(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Get(context.Background(), state.KindDeployment, state.KeyRouteMarker)
	if err != nil || !bytes.Equal(o.Value, k1) {
		t.Fatalf("the key under the names store copy reads: %x, %v", o.Value, err)
	}
}
