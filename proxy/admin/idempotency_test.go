package admin_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// recordingStore keeps the ops of every Txn, to check what a create commits together.
type recordingStore struct {
	store.Store
	mu   sync.Mutex
	txns [][]store.Op
}

func (s *recordingStore) Txn(ctx context.Context, ops []store.Op, actor string) (store.TxnResult, error) {
	s.mu.Lock()
	s.txns = append(s.txns, append([]store.Op(nil), ops...))
	s.mu.Unlock()
	return s.Store.Txn(ctx, ops, actor)
}

func TestIdempotencyKey(t *testing.T) {
	rec := &recordingStore{}
	a := newTestAPIWith(t, apiOptions{wrapStore: func(s store.Store) store.Store { rec.Store = s; return rec }})
	ctx := context.Background()
	// HTML characters must come back as the first answer had them.
	const route = `{"destination_pattern":".com.partner.*","next_hop":"192.0.2.1","description":"A & B <edge>"}`
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	countRoutes := func() int {
		t.Helper()
		l, err := a.client.ListStaticRoutes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}

	first := a.do(http.MethodPost, api.PathStaticRoutes, opsToken, []byte(route), key(`"k-1"`))
	if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first create: %d %v %s", first.status, first.header, first.body)
	}
	// The key and its object are one write, and the key outlives a day of retries.
	rec.mu.Lock()
	last := rec.txns[len(rec.txns)-1]
	rec.mu.Unlock()
	if len(last) != 2 || last[0].Kind != api.KindStaticRoute || !last[1].Side || last[1].TTL < 24*60*60*1e9 || !last[1].Cond.MustNotExist {
		t.Fatalf("the create committed %+v, want the route and the key's side record (TTL >= 24h, MustNotExist) in one Txn", last)
	}

	t.Run("a repeat gets the first answer", func(t *testing.T) {
		for _, k := range []string{`"k-1"`, `k-1`} { // quoted as the draft says, or bare: one key
			again := a.do(http.MethodPost, api.PathStaticRoutes, opsToken, []byte(route), key(k))
			if again.status != http.StatusCreated || !bytes.Equal(again.body, first.body) {
				t.Fatalf("repeat with %s: %d %s, want 201 %s", k, again.status, again.body, first.body)
			}
			for _, h := range []string{"ETag", "Location", api.HeaderRevision} {
				if again.header.Get(h) != first.header.Get(h) {
					t.Errorf("repeat: %s = %q, first answer had %q", h, again.header.Get(h), first.header.Get(h))
				}
			}
			if again.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("repeat is not marked Idempotent-Replayed")
			}
		}
		if n := countRoutes(); n != 1 {
			t.Fatalf("%d routes after repeats, want 1", n)
		}
	})

	t.Run("the key with another request is refused", func(t *testing.T) {
		before, beforeRev := a.dump()
		for _, tc := range []struct{ method, path, body string }{
			{http.MethodPost, api.PathStaticRoutes, `{"destination_pattern":".com.partner.*","next_hop":"192.0.2.2"}`},
			{http.MethodPost, api.PathFederatedDomains, `{"domain":"partner.com"}`},
			// Same meaning, other bytes: a key names one request, byte for byte.
			{http.MethodPost, api.PathStaticRoutes, `{"next_hop":"192.0.2.1","destination_pattern":".com.partner.*"}`},
		} {
			r := a.do(tc.method, tc.path, opsToken, []byte(tc.body), key(`"k-1"`))
			if r.status != http.StatusUnprocessableEntity || r.apiError(t).Code != api.CodeIdempotencyKeyReused {
				t.Fatalf("%s %s with a used key: %d %s, want 422 %s", tc.method, tc.path, r.status, r.body, api.CodeIdempotencyKeyReused)
			}
		}
		after, afterRev := a.dump()
		if afterRev != beforeRev || len(after) != len(before) {
			t.Fatalf("a refused key changed the store: revision %d -> %d", beforeRev, afterRev)
		}
	})

	t.Run("keys are per token", func(t *testing.T) {
		r := a.do(http.MethodPost, api.PathStaticRoutes, terraformTok, []byte(route), key(`"k-1"`))
		if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" || bytes.Equal(r.body, first.body) {
			t.Fatalf("another token's key k-1: %d %s, want a create of its own", r.status, r.body)
		}
		if n := countRoutes(); n != 2 {
			t.Fatalf("%d routes, want 2", n)
		}
	})

	t.Run("a failed create records no key", func(t *testing.T) {
		bad := a.do(http.MethodPost, api.PathFederatedDomains, opsToken, []byte(`{"domain":"a..com"}`), key(`"k-2"`))
		if bad.status != http.StatusBadRequest {
			t.Fatalf("invalid domain: %d", bad.status)
		}
		good := a.do(http.MethodPost, api.PathFederatedDomains, opsToken, []byte(`{"domain":"a.com"}`), key(`"k-2"`))
		if good.status != http.StatusCreated {
			t.Fatalf("the key of a refused create, on a valid one: %d %s", good.status, good.body)
		}
	})

	t.Run("concurrent repeats create one object", func(t *testing.T) {
		const n = 8
		body := []byte(`{"domain":"concurrent.com"}`)
		answers := make([]response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = a.do(http.MethodPost, api.PathFederatedDomains, opsToken, body, key(`"k-3"`))
			}()
		}
		wg.Wait()
		for i, r := range answers {
			if r.status != http.StatusCreated || !bytes.Equal(r.body, answers[0].body) || r.header.Get("ETag") != answers[0].header.Get("ETag") {
				t.Errorf("answer %d: %d %s %s, want the same 201 as the others", i, r.status, r.header.Get("ETag"), r.body)
			}
		}
		l, _ := a.client.ListChanges(ctx, 0)
		creates := 0
		for _, c := range l.Items {
			if c.Key == "concurrent.com" {
				creates++
			}
		}
		if creates != 1 {
			t.Fatalf("the audit trail has %d writes of concurrent.com, want 1", creates)
		}
	})

	t.Run("the key is not configuration", func(t *testing.T) {
		objs, _ := a.dump()
		for k := range objs {
			if strings.HasPrefix(k, "idempotency") {
				t.Fatalf("the key %s is in the configuration", k)
			}
		}
		l, _ := a.client.ListChanges(ctx, 0)
		for _, c := range l.Items {
			if c.Kind != api.KindStaticRoute && c.Kind != api.KindFederatedDomain {
				t.Fatalf("audit trail entry %+v: keys must not appear", c)
			}
		}
	})
}
