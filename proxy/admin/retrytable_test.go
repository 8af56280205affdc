package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// faultStore makes the next read or the next write of the real store fail once: before anything
// is done (ErrUnavailable), or after the write committed (ErrCommitUnknown).
type faultStore struct {
	store.Store
	mu     sync.Mutex
	reads  error // the next Get fails with this
	writes error // the next Put, Delete or Txn fails with this
}

func (s *faultStore) take(p *error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := *p
	*p = nil
	return err
}

func (s *faultStore) Get(ctx context.Context, kind, key string) (store.Object, error) {
	if err := s.take(&s.reads); err != nil {
		return store.Object{}, err
	}
	return s.Store.Get(ctx, kind, key)
}

// write runs a write under the armed fault: ErrCommitUnknown comes after the commit, any other
// error instead of it.
func (s *faultStore) write(commit func() error) error {
	err := s.take(&s.writes)
	if err == nil {
		return commit()
	}
	if errors.Is(err, store.ErrCommitUnknown) {
		if cerr := commit(); cerr != nil {
			return cerr
		}
	}
	return err
}

func (s *faultStore) Put(ctx context.Context, kind, key string, value []byte, cond store.Cond, actor string) (o store.Object, err error) {
	err = s.write(func() error { o, err = s.Store.Put(ctx, kind, key, value, cond, actor); return err })
	return o, err
}

func (s *faultStore) Delete(ctx context.Context, kind, key string, cond store.Cond, actor string) (rev uint64, err error) {
	err = s.write(func() error { rev, err = s.Store.Delete(ctx, kind, key, cond, actor); return err })
	return rev, err
}

func (s *faultStore) Txn(ctx context.Context, ops []store.Op, actor string) (res store.TxnResult, err error) {
	err = s.write(func() error { res, err = s.Store.Txn(ctx, ops, actor); return err })
	return res, err
}

// lossyGateway stands in front of the admin API. Armed, it passes the next request on (so a
// write commits) and then loses the answer: it drops the connection or answers an error of its
// own.
type lossyGateway struct {
	mu     sync.Mutex
	status int // api.StatusNoAnswer: drop the connection
	armed  bool
}

func (g *lossyGateway) arm(status int) {
	g.mu.Lock()
	g.status, g.armed = status, true
	g.mu.Unlock()
}

func (g *lossyGateway) front(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		armed, status := g.armed, g.status
		g.armed = false
		g.mu.Unlock()
		if !armed {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if status == api.StatusNoAnswer {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		http.Error(w, "the upstream answer was lost", status)
	})
}

// failOnceDialer refuses the next connection attempt, as a proxy that is not listening does.
type failOnceDialer struct {
	mu    sync.Mutex
	armed bool
	d     net.Dialer
}

func (f *failOnceDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	armed := f.armed
	f.armed = false
	f.mu.Unlock()
	if armed {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused (test)")}
	}
	return f.d.DialContext(ctx, network, addr)
}

// TestRetryTableAgainstTheRealHandler makes the real admin API (over a real store) give each
// answer of the client's retry table, for each kind of request the row names, and checks that
// the client retries exactly as the row says and that the outcome is the one the row promises: a
// retried write applied once, never twice; a create not retried because a retry could have made a
// second object.
func TestRetryTableAgainstTheRealHandler(t *testing.T) {
	for _, rule := range api.RetryTable() {
		for _, kind := range rule.Requests {
			name := fmt.Sprintf("%s/%d%s", kind, rule.Status, map[bool]string{true: "/" + rule.Code, false: ""}[rule.Code != ""])
			t.Run(name, func(t *testing.T) { runRetryRule(t, rule, kind) })
		}
	}
}

func runRetryRule(t *testing.T, rule api.RetryRule, kind string) {
	faults := &faultStore{}
	gw := &lossyGateway{}
	a := newTestAPIWith(t, apiOptions{
		wrapStore: func(s store.Store) store.Store { faults.Store = s; return faults },
		front:     gw.front,
	})
	ctx := context.Background()
	existing := api.NewStaticRoute()
	existing.DestinationPattern, existing.NextHop = ".com.existing.*", "192.0.2.1"
	existing, existingETag, err := a.client.CreateStaticRoute(ctx, existing)
	if err != nil {
		t.Fatal(err)
	}

	dialer := &failOnceDialer{}
	tr := api.NewTransport()
	tr.DialContext = dialer.DialContext
	var attempts []api.Attempt
	var mu sync.Mutex
	c, err := api.NewClient(a.srv.URL, opsToken,
		api.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: api.NoRedirects}),
		api.WithRetry(api.Retry{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}),
		api.WithObserver(func(_ context.Context, at api.Attempt) {
			mu.Lock()
			attempts = append(attempts, at)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}

	// Arm the fault that makes the real handler (or what stands in front of it) give the row's answer.
	read := kind == api.RetryGET
	switch {
	case rule.Status == api.StatusNotSent:
		dialer.armed = true
	case rule.Status == api.StatusNoAnswer, rule.Code == "":
		gw.arm(rule.Status)
	case rule.Code == api.CodeUnavailable && read:
		faults.reads = store.ErrUnavailable
	case rule.Code == api.CodeUnavailable:
		faults.writes = store.ErrUnavailable
	case rule.Code == api.CodeCommitUnknown && read:
		faults.reads = store.ErrCommitUnknown
	case rule.Code == api.CodeCommitUnknown:
		faults.writes = store.ErrCommitUnknown
	default:
		t.Fatalf("no way to make the handler answer %d %s", rule.Status, rule.Code)
	}

	fresh := api.NewStaticRoute()
	fresh.DestinationPattern, fresh.NextHop = ".com.fresh.*", "192.0.2.2"
	var created api.StaticRoute
	switch kind {
	case api.RetryGET:
		_, _, err = c.GetStaticRoute(ctx, existing.ID)
	case api.RetryPUT:
		upd := existing
		upd.Priority = 2
		_, _, err = c.UpdateStaticRoute(ctx, upd, existingETag)
	case api.RetryDELETE:
		err = c.DeleteStaticRoute(ctx, existing.ID, existingETag)
	case api.RetryPOST:
		created, _, err = c.CreateStaticRoute(ctx, fresh)
	case api.RetryPOSTWithKey:
		created, _, err = c.CreateStaticRoute(ctx, fresh, api.WithIdempotencyKey(api.NewIdempotencyKey()))
	}

	mu.Lock()
	defer mu.Unlock()
	if len(attempts) == 0 || attempts[0].Status != rule.Status || attempts[0].Code != rule.Code {
		t.Fatalf("the first attempt was %+v, want the row's answer %d %q", attempts, rule.Status, rule.Code)
	}
	want := 1
	if rule.Retry {
		want = 2
	}
	if len(attempts) != want {
		t.Fatalf("%d attempts, want %d (retry: %v, %s); last error: %v", len(attempts), want, rule.Retry, rule.Why, err)
	}

	// What the store holds after the call: the write applied exactly once, whatever the call said.
	routes, lerr := a.client.ListStaticRoutes(ctx)
	if lerr != nil {
		t.Fatal(lerr)
	}
	var freshIDs []string
	var stored *api.StaticRoute
	for i, r := range routes.Items {
		if r.DestinationPattern == fresh.DestinationPattern {
			freshIDs = append(freshIDs, r.ID)
		}
		if r.ID == existing.ID {
			stored = &routes.Items[i]
		}
	}
	committedBeforeTheAnswer := rule.Status != api.StatusNotSent && rule.Code != api.CodeUnavailable
	switch kind {
	case api.RetryGET:
		if err != nil {
			t.Fatalf("a retried read failed: %v", err)
		}
	case api.RetryPUT:
		// A replayed update that already committed meets its own If-Match: 412, which the
		// caller resolves by reading the object (as the provider does).
		if stored == nil || stored.Priority != 2 {
			t.Fatalf("route after the update: %+v, want priority 2", stored)
		}
		ownWrite := committedBeforeTheAnswer && errors.Is(err, api.ErrPreconditionFailed)
		if err != nil && !ownWrite {
			t.Fatalf("update: %v", err)
		}
		if n := countChanges(t, a, existing.ID, api.ActionUpdate); n != 1 {
			t.Fatalf("the update was applied %d times", n)
		}
	case api.RetryDELETE:
		if stored != nil {
			t.Fatalf("the route is still there after the delete")
		}
		alreadyGone := committedBeforeTheAnswer && errors.Is(err, api.ErrNotFound)
		if err != nil && !alreadyGone {
			t.Fatalf("delete: %v", err)
		}
	case api.RetryPOSTWithKey:
		if err != nil || len(freshIDs) != 1 || created.ID != freshIDs[0] {
			t.Fatalf("create with a key: %v, answered id %q, stored %v: want one route, the one answered", err, created.ID, freshIDs)
		}
	case api.RetryPOST:
		switch {
		case rule.Retry:
			if err != nil || len(freshIDs) != 1 {
				t.Fatalf("retried create: %v, stored %v, want one route", err, freshIDs)
			}
		case err == nil:
			t.Fatal("a create that was not retried succeeded")
		case committedBeforeTheAnswer && len(freshIDs) != 1:
			// The answer was lost after the commit: one route exists, and a retry would have made a second.
			t.Fatalf("stored %v, want the one route the lost answer hid", freshIDs)
		}
	}
}

func countChanges(t *testing.T, a *testAPI, key, action string) int {
	t.Helper()
	l, err := a.client.ListChanges(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range l.Items {
		if c.Key == key && c.Action == action {
			n++
		}
	}
	return n
}
