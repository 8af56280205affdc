package edgetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
)

// A store from before the API refused them may hold a local domain as a federated domain: the
// proxy leaves it out of routing, says so in its log, its metrics and /readyz, and no partner
// can send as a local user through it.
func TestStoredLocalDomainIsIgnored(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"example.com", "localhost"} {
		v, _ := json.Marshal(api.FederatedDomain{Domain: d, Type: api.DomainTypeLync})
		if _, err := st.Put(context.Background(), api.KindFederatedDomain, d, v, store.Cond{}, "an older version"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	w := newWorldIn(t, dir)
	ready, err := httpGet(context.Background(), w.proxy.Endpoint+"/readyz")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ready, "example.com is ignored") || !strings.Contains(ready, "localhost is ignored") {
		t.Errorf("/readyz does not say the stored local domains are ignored: %s", ready)
	}
	if n := metricValue(t, w.proxy.Endpoint, "sipfed_snapshot_ignored_domains"); n != 2 {
		t.Errorf("ignored domains metric %v, want 2", n)
	}
	p := w.partner(t, w.leafA)
	before := w.inner.count()
	p.send(t, req("MESSAGE", "sip:alice@example.com", "tls "+ipEdgeA+":5061", map[string]string{"From": "<sip:ceo@example.com>;tag=1"}))
	if res, _ := p.final(t, 5*time.Second); res.status() != 403 {
		t.Fatalf("a partner sending as a local user: %s", res.start)
	}
	quiet(t, w.inner, before, 50*time.Millisecond, "internal server")
}
