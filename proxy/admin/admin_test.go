package admin_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

func TestFederatedDomainLifecycle(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()

	d, etag, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "DomainA.com", Description: "Partner A"})
	if err != nil {
		t.Fatal(err)
	}
	want := api.FederatedDomain{Domain: "domaina.com", Description: "Partner A", Type: "lync", IncomingACL: "domaina.com"}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("created %+v, want %+v", d, want)
	}
	if etag != `"1"` {
		t.Fatalf("ETag %s, want \"1\"", etag)
	}
	// 2xx means live: the snapshot routes by it already, with no wait.
	if _, ok := a.live.Load().Domain("domaina.com"); !ok {
		t.Fatal("created domain is not in the live snapshot")
	}

	acls, err := a.client.ListIncomingACLs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(acls.Items) != 1 || acls.Items[0].Pattern != "domaina.com" {
		t.Fatalf("incoming ACLs %+v", acls.Items)
	}

	d.Type, d.DirectFederation = api.DomainTypeAOL, true
	upd, etag2, err := a.client.UpdateFederatedDomain(ctx, d, etag)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Type != "aol" || !upd.DirectFederation || etag2 != `"2"` {
		t.Fatalf("updated %+v etag %s", upd, etag2)
	}
	if got, _ := a.live.Load().Domain("domaina.com"); got.Type != "aol" {
		t.Fatalf("live snapshot has type %q after update", got.Type)
	}

	if _, _, err := a.client.UpdateFederatedDomain(ctx, d, etag); !errors.Is(err, api.ErrPreconditionFailed) {
		t.Fatalf("update with stale ETag: %v, want 412", err)
	}
	if err := a.client.DeleteFederatedDomain(ctx, "domaina.com", etag); !errors.Is(err, api.ErrPreconditionFailed) {
		t.Fatalf("delete with stale ETag: %v, want 412", err)
	}
	if err := a.client.DeleteFederatedDomain(ctx, "DOMAINA.com", etag2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.client.GetFederatedDomain(ctx, "domaina.com"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, ok := a.live.Load().Domain("domaina.com"); ok {
		t.Fatal("deleted domain still routes")
	}
	acls, _ = a.client.ListIncomingACLs(ctx)
	if len(acls.Items) != 0 {
		t.Fatalf("incoming ACL outlived its domain: %+v", acls.Items)
	}
}

func TestStaticRouteDefaultsAndServerID(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	r := a.do(http.MethodPost, api.PathStaticRoutes, opsToken, []byte(`{"destination_pattern":".COM.domaina.*","next_hop":"Edge.DomainA.com"}`), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	list, err := a.client.ListStaticRoutes(ctx)
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	got := list.Items[0]
	if got.ID == "" {
		t.Fatal("no server-assigned id")
	}
	want := api.NewStaticRoute()
	want.ID, want.DestinationPattern, want.NextHop = got.ID, ".com.domaina.*", "edge.domaina.com"
	if got != want {
		t.Fatalf("stored %+v,\nwant %+v", got, want)
	}
	if loc := r.header.Get("Location"); loc != api.PathStaticRoutes+"/"+got.ID {
		t.Fatalf("Location %q", loc)
	}

	// PUT replaces the whole object: what it leaves out returns to the default.
	got.Priority, got.InService = 5, false
	upd, _, err := a.client.UpdateStaticRoute(ctx, got, "")
	if err != nil || upd.Priority != 5 || upd.InService {
		t.Fatalf("update: %+v %v", upd, err)
	}
	r = a.do(http.MethodPut, api.PathStaticRoutes+"/"+got.ID, opsToken, []byte(`{"destination_pattern":".com.domaina.*","next_hop":"10.0.0.9"}`), nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	after, _, _ := a.client.GetStaticRoute(ctx, got.ID)
	if after.Priority != api.DefaultPriority || !after.InService || after.NextHop != "10.0.0.9" {
		t.Fatalf("after full replace: %+v", after)
	}
}

func TestSingletons(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()

	f, etag, err := a.client.GetFederationRoutingFQDN(ctx)
	if err != nil || f.FQDN != "imp1.example.com" || f.NodeFQDN != "imp1.example.com" || etag != "" {
		t.Fatalf("fresh routing FQDN %+v etag %q err %v; want the node FQDN and no ETag", f, etag, err)
	}
	f, etag, err = a.client.SetFederationRoutingFQDN(ctx, "IMP-Public.Example.com", "")
	if err != nil || f.FQDN != "imp-public.example.com" {
		t.Fatalf("set: %+v %v", f, err)
	}
	if got := a.live.Load().RoutingFQDN(); got != "imp-public.example.com" {
		t.Fatalf("live routing FQDN %q", got)
	}
	if err := a.client.ResetFederationRoutingFQDN(ctx, `"999"`); !errors.Is(err, api.ErrPreconditionFailed) {
		t.Fatalf("reset with stale ETag: %v", err)
	}
	if err := a.client.ResetFederationRoutingFQDN(ctx, etag); err != nil {
		t.Fatal(err)
	}
	if got := a.live.Load().RoutingFQDN(); got != "imp1.example.com" {
		t.Fatalf("after reset, live routing FQDN %q, want the node FQDN", got)
	}
	// Resetting what is already the default is not an error.
	if err := a.client.ResetFederationRoutingFQDN(ctx, ""); err != nil {
		t.Fatal(err)
	}

	svc, _, err := a.client.GetFederationService(ctx)
	if err != nil || !svc.Enabled {
		t.Fatalf("fresh data directory: service %+v %v, want on", svc, err)
	}
	if _, _, err := a.client.SetFederationService(ctx, false, ""); err != nil {
		t.Fatal(err)
	}
	if a.live.Load().ServiceEnabled() {
		t.Fatal("service still on in the live snapshot")
	}
}

func TestRevisionHeaderAndAuditTrail(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	r := a.do(http.MethodPost, api.PathFederatedDomains, opsToken, []byte(`{"domain":"a.com"}`), nil)
	if r.status != 201 || r.header.Get(api.HeaderRevision) != "1" {
		t.Fatalf("create: %d revision %q", r.status, r.header.Get(api.HeaderRevision))
	}
	if _, _, err := a.client.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "edge.a.com"}); err != nil {
		t.Fatal(err)
	}
	r = a.do(http.MethodGet, api.PathFederatedDomains+"/a.com", opsToken, nil, nil)
	if r.header.Get(api.HeaderRevision) != "2" || r.header.Get(api.HeaderETag) != `"1"` {
		t.Fatalf("GET: revision %q ETag %q, want 2 and \"1\"", r.header.Get(api.HeaderRevision), r.header.Get(api.HeaderETag))
	}
	r = a.do(http.MethodDelete, api.PathFederatedDomains+"/a.com", opsToken, nil, nil)
	if r.status != http.StatusNoContent || r.header.Get(api.HeaderRevision) != "3" {
		t.Fatalf("delete: %d revision %q", r.status, r.header.Get(api.HeaderRevision))
	}

	changes, err := a.client.ListChanges(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ kind, key, action, actor string }
	want := []row{
		{api.KindFederatedDomain, "a.com", api.ActionCreate, "ops"},
		{api.KindTLSPeerSubject, "edge.a.com", api.ActionCreate, "terraform"},
		{api.KindFederatedDomain, "a.com", api.ActionDelete, "ops"},
	}
	if len(changes.Items) != len(want) {
		t.Fatalf("changes: %+v", changes.Items)
	}
	for i, w := range want {
		c := changes.Items[i]
		if (row{c.Kind, c.Key, c.Action, c.Actor}) != w || c.Revision != uint64(i+1) || c.Time.IsZero() {
			t.Errorf("change %d = %+v, want %+v at revision %d", i, c, w, i+1)
		}
	}
	since, _ := a.client.ListChanges(ctx, 2)
	if len(since.Items) != 1 || since.Items[0].Revision != 3 {
		t.Fatalf("changes since 2: %+v", since.Items)
	}
}

func TestExplainAndNode(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	if _, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	rt := api.NewStaticRoute()
	rt.DestinationPattern, rt.NextHop, rt.Protocol = ".com.domaina.*", "192.0.2.10", api.ProtocolTCP
	created, _, err := a.client.CreateStaticRoute(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := a.client.ExplainRoute(ctx, "sip:bob@domaina.com")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status != 0 || len(ex.NextHops) != 1 || ex.NextHops[0].Address != "192.0.2.10" || ex.NextHops[0].RouteID != created.ID || ex.NextHops[0].Transport != "tcp" {
		t.Fatalf("explanation %+v", ex)
	}
	ex, err = a.client.ExplainRoute(ctx, "sip:bob@stranger.com")
	if err != nil || ex.Status != http.StatusForbidden {
		t.Fatalf("non-federated domain: %+v %v", ex, err)
	}
	node, err := a.client.GetNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if node.NodeFQDN != "imp1.example.com" || node.FederationRoutingFQDN != "imp1.example.com" || len(node.LocalDomains) != 1 || node.ExternalPort != 5061 {
		t.Fatalf("node %+v", node)
	}
}

// Writers racing on one object with If-Match: exactly one wins each round, and no update is lost.
func TestIfMatchRace(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	_, etag, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "race.com"})
	if err != nil {
		t.Fatal(err)
	}
	const rounds, writers = 20, 6
	for round := range rounds {
		type result struct {
			writer int
			etag   string
			err    error
		}
		results := make(chan result, writers)
		start := make(chan struct{})
		for w := range writers {
			go func() {
				<-start
				_, e, err := a.client.UpdateFederatedDomain(ctx, api.FederatedDomain{
					Domain: "race.com", Description: "round " + strconv.Itoa(round) + " writer " + strconv.Itoa(w),
				}, etag)
				results <- result{w, e, err}
			}()
		}
		close(start)
		winners := 0
		var winner result
		for range writers {
			r := <-results
			switch {
			case r.err == nil:
				winners++
				winner = r
			case !errors.Is(r.err, api.ErrPreconditionFailed):
				t.Fatalf("round %d: loser got %v, want 412", round, r.err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, winners)
		}
		got, cur, err := a.client.GetFederatedDomain(ctx, "race.com")
		if err != nil {
			t.Fatal(err)
		}
		wantDesc := "round " + strconv.Itoa(round) + " writer " + strconv.Itoa(winner.writer)
		if got.Description != wantDesc || cur != winner.etag {
			t.Fatalf("round %d: stored %q (etag %s), want the winner's %q (etag %s)", round, got.Description, cur, wantDesc, winner.etag)
		}
		etag = cur
	}
	changes, _ := a.client.ListChanges(ctx, 0)
	if len(changes.Items) != rounds+1 {
		t.Fatalf("%d changes, want %d: one create and one update per round", len(changes.Items), rounds+1)
	}
}

func TestProfilesNeedAToken(t *testing.T) {
	a := newTestAPI(t)
	if r := a.do(http.MethodGet, "/debug/pprof/heap", "", nil, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("heap profile without a token: %d", r.status)
	}
	if r := a.do(http.MethodGet, "/debug/pprof/heap?debug=1", opsToken, nil, nil); r.status != http.StatusOK || len(r.body) == 0 {
		t.Fatalf("heap profile with a token: %d", r.status)
	}
}

func TestPeerSubjectsAreNormalizedAndBound(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	for _, s := range []string{"edge1.partner.com", "edge2.partner.com"} {
		if _, _, err := a.client.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: s}); err != nil {
			t.Fatal(err)
		}
	}
	d, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.com",
		PeerSubjects: []string{"Edge2.Partner.com", "edge1.partner.com", "EDGE1.partner.com"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"edge1.partner.com", "edge2.partner.com"}
	if !reflect.DeepEqual(d.PeerSubjects, want) {
		t.Fatalf("peer_subjects = %q, want %q (lower-cased, deduplicated, sorted)", d.PeerSubjects, want)
	}
	live, ok := a.live.Load().Domain("partner.com")
	if !ok || !reflect.DeepEqual(live.PeerSubjects, want) {
		t.Fatalf("live domain = %+v, want peer_subjects %q", live, want)
	}
	// Once no domain names it, the subject can go.
	if _, _, err := a.client.UpdateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.com", PeerSubjects: []string{"edge1.partner.com"}}, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.client.DeleteTLSPeerSubject(ctx, "edge2.partner.com", ""); err != nil {
		t.Fatalf("deleting a subject no domain names: %v", err)
	}
	if err := a.client.DeleteTLSPeerSubject(ctx, "edge1.partner.com", ""); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("deleting a subject a domain names: err = %v, want a conflict", err)
	}
}
