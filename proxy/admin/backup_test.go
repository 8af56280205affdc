package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
)

// The backup endpoint streams a store file that checks whole and holds what the API served.
func TestBackupStreamsAConsistentStore(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	for _, d := range []string{"domaina.com", "domainb.com"} {
		if _, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: d}); err != nil {
			t.Fatal(err)
		}
	}
	want, rev := a.dump()

	if r := a.do(http.MethodGet, "/v1/backup", "", nil, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", r.status)
	}
	if r := a.do(http.MethodPost, "/v1/backup", opsToken, nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", r.status)
	}
	r := a.do(http.MethodGet, "/v1/backup", opsToken, nil, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/octet-stream" ||
		r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) || r.header.Get(api.HeaderRevision) != strconv.FormatUint(rev, 10) {
		t.Fatalf("backup: %d, headers %v, %d bytes", r.status, r.header, len(r.body))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, bolt.FileName), r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := bolt.Check(filepath.Join(dir, bolt.FileName), 0)
	if err != nil || rep.Revision != rev {
		t.Fatalf("the copy: %+v, %v", rep, err)
	}
	st, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	objs, _, err := st.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range objs {
		got[o.Kind+"/"+o.Key] = string(o.Value)
	}
	if len(got) != len(want) {
		t.Fatalf("the copy holds %d objects, the store %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: copy %q, store %q", k, got[k], v)
		}
	}
}

// A store that is not a file (etcd) has no backup here; the answer says where to look.
func TestBackupOfAStoreWithoutFile(t *testing.T) {
	a := newTestAPI(t)
	tokens, err := admin.NewTokens(map[string]string{"ops": opsToken})
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Config{Store: noBackup{a.store}, Live: a.live, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer "+opsToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

// noBackup hides the store's Backup method, as a backend without one.
type noBackup struct{ store.Store }
