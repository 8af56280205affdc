package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
)

// noDNS answers every lookup with NXDOMAIN: the comparison below is about static routing state.
type noDNS struct{}

func (noDNS) LookupSRV(context.Context, string) (routing.SRVAnswer, error) {
	return routing.SRVAnswer{}, routing.ErrNXDOMAIN
}
func (noDNS) LookupAddrs(context.Context, string) (routing.AddrAnswer, error) {
	return routing.AddrAnswer{}, routing.ErrNXDOMAIN
}

func put(t *testing.T, st store.Store, kind, key string, v any) uint64 {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	o, err := st.Put(context.Background(), kind, key, b, store.Cond{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return o.ModRevision
}

// The syncer patches the live snapshot change by change; whatever the sequence, the result must
// route exactly as a snapshot built from scratch out of the same store.
func TestIncrementalSnapshotsEqualAFullBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fixed := func() uint64 { return 42 }
	opts := routing.Options{NodeFQDN: "imp1.example.com", LocalDomains: []string{"example.com"}, Random: fixed}
	syncer := state.NewSyncer(st, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- syncer.Run(ctx) }()
	<-syncer.Ready()

	rng := rand.New(rand.NewPCG(1, 2))
	domains := []string{"a.com", "b.com", "sub.a.com", "aol.com", "hosted.net", "c.org"}
	var lastRev uint64
	routeIDs := []string{}
	for i := range 400 {
		switch rng.IntN(6) {
		case 0, 1:
			d := api.FederatedDomain{Domain: domains[rng.IntN(len(domains))], Type: []string{"lync", "aol"}[rng.IntN(2)], DirectFederation: rng.IntN(2) == 0}
			lastRev = put(t, st, api.KindFederatedDomain, d.Domain, d)
		case 2:
			r := api.NewStaticRoute()
			r.ID = fmt.Sprintf("r%d", rng.IntN(30))
			r.DestinationPattern = api.DestinationPattern(domains[rng.IntN(len(domains))])
			if rng.IntN(3) == 0 {
				r.DestinationPattern = r.DestinationPattern[:len(r.DestinationPattern)-2] // exact
			}
			r.NextHop = fmt.Sprintf("192.0.2.%d", 1+rng.IntN(200))
			r.Priority, r.Weight = 1+rng.IntN(3), rng.IntN(20)
			r.InService, r.Block, r.AllowLessSpecific = rng.IntN(5) != 0, rng.IntN(15) == 0, rng.IntN(2) == 0
			routeIDs = append(routeIDs, r.ID)
			lastRev = put(t, st, api.KindStaticRoute, r.ID, r)
		case 3:
			s := api.TLSPeerSubject{Subject: fmt.Sprintf("edge%d.a.com", rng.IntN(5))}
			lastRev = put(t, st, api.KindTLSPeerSubject, s.Subject, s)
		case 4:
			kinds := []string{api.KindFederatedDomain, api.KindStaticRoute, api.KindTLSPeerSubject, api.KindFederationRoutingFQDN}
			kind := kinds[rng.IntN(len(kinds))]
			key := state.SingletonKey
			switch kind {
			case api.KindFederatedDomain:
				key = domains[rng.IntN(len(domains))]
			case api.KindStaticRoute:
				if len(routeIDs) == 0 {
					continue
				}
				key = routeIDs[rng.IntN(len(routeIDs))]
			case api.KindTLSPeerSubject:
				key = fmt.Sprintf("edge%d.a.com", rng.IntN(5))
			}
			if rev, err := st.Delete(ctx, kind, key, store.Cond{}, "test"); err == nil {
				lastRev = rev
			}
		case 5:
			if rng.IntN(2) == 0 {
				lastRev = put(t, st, api.KindFederationRoutingFQDN, state.SingletonKey, api.FederationRoutingFQDN{FQDN: fmt.Sprintf("pub%d.example.com", i)})
			} else {
				lastRev = put(t, st, api.KindFederationService, state.SingletonKey, api.FederationService{Enabled: rng.IntN(2) == 0})
			}
		}
		// Compare now and then, not only at the end, so that patches build on patches.
		if i%50 != 49 {
			continue
		}
		if err := syncer.Live().WaitRevision(ctx, lastRev); err != nil {
			t.Fatal(err)
		}
		live := syncer.Live().Load()
		fresh := fullBuild(t, st, opts)
		if live.Revision() != fresh.Revision() {
			t.Fatalf("step %d: live revision %d, store %d", i, live.Revision(), fresh.Revision())
		}
		assertSameRouting(t, i, live, fresh, domains)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func fullBuild(t *testing.T, st store.Store, opts routing.Options) *routing.Snapshot {
	t.Helper()
	objs, rev, err := st.ListAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg := routing.Config{Revision: rev, ServiceEnabled: true, Domains: map[string]api.FederatedDomain{},
		Routes: map[string]api.StaticRoute{}, PeerSubjects: map[string]api.TLSPeerSubject{}}
	for _, o := range objs {
		switch o.Kind {
		case api.KindFederatedDomain:
			var d api.FederatedDomain
			_ = json.Unmarshal(o.Value, &d)
			cfg.Domains[o.Key] = d
		case api.KindStaticRoute:
			var r api.StaticRoute
			_ = json.Unmarshal(o.Value, &r)
			cfg.Routes[o.Key] = r
		case api.KindTLSPeerSubject:
			var s api.TLSPeerSubject
			_ = json.Unmarshal(o.Value, &s)
			cfg.PeerSubjects[o.Key] = s
		case api.KindFederationRoutingFQDN:
			var f api.FederationRoutingFQDN
			_ = json.Unmarshal(o.Value, &f)
			cfg.RoutingFQDN = f.FQDN
		case api.KindFederationService:
			var f api.FederationService
			_ = json.Unmarshal(o.Value, &f)
			cfg.ServiceEnabled = f.Enabled
		}
	}
	return routing.Build(&cfg, opts)
}

func assertSameRouting(t *testing.T, step int, live, fresh *routing.Snapshot, domains []string) {
	t.Helper()
	ld, lr, ls := live.Counts()
	fd, fr, fs := fresh.Counts()
	if ld != fd || lr != fr || ls != fs {
		t.Fatalf("step %d: live counts %d/%d/%d, fresh %d/%d/%d", step, ld, lr, ls, fd, fr, fs)
	}
	if live.RoutingFQDN() != fresh.RoutingFQDN() || live.ServiceEnabled() != fresh.ServiceEnabled() {
		t.Fatalf("step %d: routing FQDN %q/%q service %v/%v", step, live.RoutingFQDN(), fresh.RoutingFQDN(), live.ServiceEnabled(), fresh.ServiceEnabled())
	}
	for i := range 5 {
		s := fmt.Sprintf("edge%d.a.com", i)
		if live.IsPeerSubject(s) != fresh.IsPeerSubject(s) {
			t.Fatalf("step %d: peer subject %s differs", step, s)
		}
	}
	for _, d := range append(domains, "x.sub.a.com", "unknown.com") {
		for _, d2 := range []string{d} {
			if live.RecordRouteHost(d2) != fresh.RecordRouteHost(d2) {
				t.Fatalf("step %d: Record-Route host for %s differs", step, d2)
			}
		}
		req := routing.Request{User: "bob", Domain: d}
		a := live.Explain(context.Background(), noDNS{}, req)
		b := fresh.Explain(context.Background(), noDNS{}, req)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("step %d: %s routes differently:\nlive  %+v\nfresh %+v", step, d, a, b)
		}
	}
}

func TestWaitRevisionReturnsWhenLiveOrCancelled(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	syncer := state.NewSyncer(st, routing.Options{NodeFQDN: "n.example.com"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = syncer.Run(ctx) }()
	<-syncer.Ready()

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := syncer.Live().WaitRevision(short, 1); err == nil {
		t.Fatal("revision 1 reported live before any write")
	}
	rev := put(t, st, api.KindFederatedDomain, "a.com", api.FederatedDomain{Domain: "a.com", Type: "lync"})
	wctx, cancelW := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelW()
	if err := syncer.Live().WaitRevision(wctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, ok := syncer.Live().Load().Domain("a.com"); !ok {
		t.Fatal("revision live but the domain is not routed")
	}
}
