package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// fuzzTargets are the writes the fuzzer aims a body at: every kind the API decodes.
var fuzzTargets = []struct {
	method, path string
	// roundTrip decodes a 2xx answer and checks it: valid, and stable under Normalize.
	roundTrip func(t *testing.T, body []byte)
}{
	{http.MethodPost, api.PathFederatedDomains, checkRoundTrip[api.FederatedDomain]},
	{http.MethodPost, api.PathStaticRoutes, checkRoundTrip[api.StaticRoute]},
	{http.MethodPost, api.PathTLSPeerSubjects, checkRoundTrip[api.TLSPeerSubject]},
	{http.MethodPut, api.PathFederatedDomains + "/domaina.com", checkRoundTrip[api.FederatedDomain]},
	{http.MethodPut, api.PathFederationRoutingFQDN, nil},
	{http.MethodPut, api.PathFederationService, nil},
}

type normalized interface {
	api.FederatedDomain | api.StaticRoute | api.TLSPeerSubject
}

func checkRoundTrip[T normalized](t *testing.T, body []byte) {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("2xx body is not the object: %v: %s", err, body)
	}
	again := v
	var err error
	switch p := any(&again).(type) {
	case *api.FederatedDomain:
		p.IncomingACL = "" // read-only, filled in on the way out
		p.Normalize()
		p.IncomingACL = any(&v).(*api.FederatedDomain).IncomingACL
		err = p.Validate()
	case *api.StaticRoute:
		p.Normalize()
		err = p.Validate()
	case *api.TLSPeerSubject:
		p.Normalize()
		err = p.Validate()
	}
	if err != nil {
		t.Fatalf("the API accepted an object that does not validate: %v: %s", err, body)
	}
	if !reflect.DeepEqual(v, again) {
		t.Fatalf("an accepted object is not normalized:\n got %+v\nnormalized %+v", v, again)
	}
}

// FuzzAdminWrite aims arbitrary bodies at the admin API's real handler, on a real store. Whatever
// the body, the answer is a 2xx with a valid, normalized object, or a 4xx with a JSON API error
// naming a code; never a 5xx, never a panic; and a refused write changes nothing.
func FuzzAdminWrite(f *testing.F) {
	a := newTestAPI(f)
	h := a.srv.Config.Handler
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		tg := fuzzTargets[int(target)%len(fuzzTargets)]
		before := revision(t, a)
		req := httptest.NewRequest(tg.method, tg.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+opsToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		status := rec.Code
		switch {
		case status >= 500:
			t.Fatalf("%s %s %q: %d %s", tg.method, tg.path, body, status, rec.Body)
		case status >= 400:
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%d without a JSON API error: %s", status, rec.Body)
			}
			if after := revision(t, a); after != before {
				t.Fatalf("a refused write (%d %s) moved the revision from %d to %d", status, eb.Error.Code, before, after)
			}
		case status >= 200 && status < 300:
			if tg.roundTrip != nil {
				tg.roundTrip(t, rec.Body.Bytes())
			}
		default:
			t.Fatalf("unexpected status %d: %s", status, rec.Body)
		}
	})
}

// revision is the store's revision (a.dump is the harness's, bound to the fuzz test itself).
func revision(t *testing.T, a *testAPI) uint64 {
	rev, err := a.store.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}
