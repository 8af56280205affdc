package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// A proxy killed with SIGKILL in the middle of a stream of writes loses none that it
// acknowledged, and its store opens cleanly afterwards.
func TestCrashLosesNoAcknowledgedWrite(t *testing.T) {
	dataDir := t.TempDir()
	tokenFile := writeTokenFile(t, t.TempDir())
	acked := map[string]bool{}
	for round := range 3 {
		p := startProxy(t, "--data-dir", dataDir, "--admin-token-file", tokenFile)
		c, err := api.NewClient(p.endpoint, testToken, api.WithRetry(api.Retry{Attempts: 1}), api.WithRequestTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var (
			mu    sync.Mutex
			wg    sync.WaitGroup
			count atomic.Int64
		)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil && i < 100000; i++ {
					domain := fmt.Sprintf("r%d-w%d-n%d.example.net", round, w, i)
					_, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: domain})
					if err != nil {
						return // the kill: every later write fails, none is acknowledged
					}
					mu.Lock()
					acked[domain] = true
					mu.Unlock()
					count.Add(1)
				}
			}()
		}
		// Kill once writes are flowing, at a moment unrelated to any commit.
		deadline := time.Now().Add(15 * time.Second)
		for count.Load() < int64(50+round*37) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if count.Load() == 0 {
			t.Fatalf("no write was acknowledged:\n%s", p.stderr)
		}
		p.kill()
		cancel()
		wg.Wait()
		t.Logf("round %d: %d writes acknowledged before SIGKILL", round, count.Load())

		// The file is consistent: bbolt's own check finds nothing.
		st, err := bolt.Open(dataDir, bolt.Options{LockTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("store does not open after SIGKILL: %v", err)
		}
		path := st.Path()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		err = db.View(func(tx *bbolt.Tx) error {
			for e := range tx.Check() {
				return e
			}
			return nil
		})
		_ = db.Close()
		if err != nil {
			t.Fatalf("store inconsistent after SIGKILL: %v", err)
		}
	}

	// Restarted, the proxy has every acknowledged write.
	p := startProxy(t, "--data-dir", dataDir, "--admin-token-file", tokenFile)
	c, err := api.NewClient(p.endpoint, testToken)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.ListFederatedDomains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, d := range list.Items {
		stored[d.Domain] = true
	}
	lost := 0
	for d := range acked {
		if !stored[d] {
			lost++
			t.Errorf("acknowledged write lost: %s", d)
		}
	}
	if lost == 0 && len(acked) == 0 {
		t.Fatal("nothing was tested")
	}
	t.Logf("%d acknowledged writes, %d stored, %d lost", len(acked), len(stored), lost)
	// The audit trail survived with the writes: every acknowledged create has its entry, and the
	// revisions run without a gap up to the store's.
	logged := map[string]bool{}
	var since, rev uint64
	for {
		page, err := c.ListChanges(context.Background(), since)
		if err != nil {
			t.Fatal(err)
		}
		rev = page.Revision
		for _, ch := range page.Items {
			if ch.Revision != since+1 {
				t.Fatalf("audit trail jumps from revision %d to %d", since, ch.Revision)
			}
			since = ch.Revision
			if ch.Action == api.ActionCreate && ch.Actor == "crash" {
				logged[ch.Key] = true
			}
		}
		if len(page.Items) == 0 {
			break
		}
	}
	if since != rev {
		t.Fatalf("audit trail ends at revision %d, the store is at %d", since, rev)
	}
	for d := range acked {
		if !logged[d] {
			t.Errorf("acknowledged write %s has no audit entry", d)
		}
	}
}
