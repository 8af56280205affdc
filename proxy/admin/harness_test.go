package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
)

const (
	opsToken     = "ops-token-0123456789abcdef"
	terraformTok = "terraform-token-0123456789"
)

// testAPI is the admin API over a real bbolt store and a running syncer, served on loopback.
type testAPI struct {
	t      testing.TB
	srv    *httptest.Server
	store  store.Store
	live   *state.Live
	client *api.Client
}

func newTestAPI(t testing.TB) *testAPI {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := routing.Options{NodeFQDN: "imp1.example.com", LocalDomains: []string{"example.com"}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	syncer := state.NewSyncer(st, opts, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = syncer.Run(ctx)
	}()
	select {
	case <-syncer.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("syncer not ready")
	}
	tokens, err := admin.NewTokens(map[string]string{"ops": opsToken, "terraform": terraformTok})
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Config{Store: st, Live: syncer.Live(), Tokens: tokens, Routing: opts, ExternalPort: 5061, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		_ = st.Close()
	})
	c, err := api.NewClient(srv.URL, terraformTok, api.WithRetry(api.Retry{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return &testAPI{t: t, srv: srv, store: st, live: syncer.Live(), client: c}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) apiError(t testing.TB) api.Error {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d: body is not an API error: %s", r.status, r.body)
	}
	return *eb.Error
}

// do sends a raw request; token "" sends none.
func (a *testAPI) do(method, path, token string, body []byte, header map[string]string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// dump is every stored object and the revision: a fingerprint of the store for "nothing changed".
func (a *testAPI) dump() (map[string]string, uint64) {
	a.t.Helper()
	objs, rev, err := a.store.ListAll(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	m := map[string]string{}
	for _, o := range objs {
		m[o.Kind+"/"+o.Key] = string(o.Value)
	}
	return m, rev
}
