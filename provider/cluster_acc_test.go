package provider

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

// The provider works against any node of a cluster: Terraform applies through node 2 while node 1
// carries SIP traffic, and node 1 routes by what was applied without a restart. The SRV records
// data source publishes the routing FQDN with every node's public address, and says unset while
// the cluster has none.
func TestAccClusterApplyThroughOneNodeWhileAnotherServes(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	var nodes []*servertest.Proxy
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, servertest.Start(t,
			servertest.WithEtcd(srv.Endpoints(), "/acc/"),
			servertest.WithNode(fmt.Sprintf("imp%d.example.com", i)),
			servertest.WithSIP(relay.Config{Internal: []relay.Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}}, HopTimeout: 2 * time.Second}),
			servertest.WithConfig(func(c *server.Config) {
				c.PublicAddresses = []string{fmt.Sprintf("192.0.2.%d", 10+i)}
				if i == 3 {
					c.PublicAddresses = append(c.PublicAddresses, "2001:db8::13")
				}
			}),
		))
	}
	edge := startMessageEdge(t)
	traffic := startTraffic(t, nodes[0].Relay().InternalAddrs()[0].Addr)

	var (
		sent, ok int64
		failed   string
	)
	const ds = "data.sip_federation_srv_records.publish"
	addr := func(typ, ip string) knownvalue.Check {
		return knownvalue.ObjectExact(map[string]knownvalue.Check{
			"name": knownvalue.StringExact("sipfed.example.com"), "type": knownvalue.StringExact(typ), "address": knownvalue.StringExact(ip),
		})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			// No routing FQDN yet: no single target to publish, whichever node answers.
			{
				Config: providerConfig(nodes[1]) + `data "sip_federation_srv_records" "publish" {}`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("federation_routing_fqdn"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("records"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("address_records"), knownvalue.ListSizeExact(0)),
				},
			},
			{
				Config: providerConfig(nodes[1]) + fmt.Sprintf(`
resource "sip_federated_domain" "a" {
  domain = "domaina.com"
}

resource "sip_static_route" "a" {
  destination_pattern = ".com.domaina.*"
  next_hop            = "127.0.0.1"
  next_hop_port       = %d
  protocol            = "tcp"
  depends_on          = [sip_federated_domain.a]
}

resource "sip_federation_routing_fqdn" "this" {
  fqdn = "sipfed.example.com"
}

data "sip_federation_srv_records" "publish" {
  depends_on = [sip_federation_routing_fqdn.this]
}
`, edge.port),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("federation_routing_fqdn"), knownvalue.StringExact("sipfed.example.com")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("records").AtSliceIndex(0).AtMapKey("target"), knownvalue.StringExact("sipfed.example.com")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("address_records"), knownvalue.ListExact([]knownvalue.Check{
						addr("A", "192.0.2.11"), addr("A", "192.0.2.12"), addr("A", "192.0.2.13"), addr("AAAA", "2001:db8::13"),
					})),
				},
				// Traffic stops once the apply is through, before the test's destroy.
				Check: func(*terraform.State) error {
					sent, ok, failed = traffic.stop()
					return nil
				},
			},
			// Planned again through node 3: nothing to change.
			{
				Config: providerConfig(nodes[2]) + fmt.Sprintf(`
resource "sip_federated_domain" "a" {
  domain = "domaina.com"
}

resource "sip_static_route" "a" {
  destination_pattern = ".com.domaina.*"
  next_hop            = "127.0.0.1"
  next_hop_port       = %d
  protocol            = "tcp"
  depends_on          = [sip_federated_domain.a]
}

resource "sip_federation_routing_fqdn" "this" {
  fqdn = "sipfed.example.com"
}
`, edge.port),
				PlanOnly: true,
			},
		},
	})
	if failed != "" {
		t.Fatalf("node 1 under traffic during the apply: %s", failed)
	}
	if ok == 0 || edge.got.Load() != ok {
		t.Fatalf("%d MESSAGEs sent through node 1, %d routed by the applied route, edge got %d", sent, ok, edge.got.Load())
	}
	t.Logf("%d MESSAGEs through node 1 during the apply through node 2, %d routed once the route was live", sent, ok)
}

// messageEdge is a partner edge stand-in answering MESSAGE with 200.
type messageEdge struct {
	port int
	got  atomic.Int64
}

func startMessageEdge(t *testing.T) *messageEdge {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("edge"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	e := &messageEdge{}
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		e.got.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.ServeTCP(l) }()
	t.Cleanup(func() { _ = l.Close(); _ = ua.Close() })
	return e
}

// traffic sends MESSAGEs to domaina.com through a node until stopped. Before the configuration
// lands they are refused (403, 404, 503); once one is routed (200), every later one must be.
type traffic struct {
	stopc       chan struct{}
	once        sync.Once
	wg          sync.WaitGroup
	sent, ok    atomic.Int64
	mu          sync.Mutex
	failed      string
	routedSince bool
}

func startTraffic(t *testing.T, addr string) *traffic {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("enterprise-user"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	c, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	tr := &traffic{stopc: make(chan struct{})}
	t.Cleanup(func() { tr.stop() })
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-tr.stopc:
				return
			case <-time.After(20 * time.Millisecond):
			}
			code, err := message(c, addr)
			tr.sent.Add(1)
			tr.mu.Lock()
			switch {
			case err != nil:
				tr.failed = fmt.Sprintf("MESSAGE %d: %v", i, err)
			case code == sip.StatusOK:
				tr.routedSince = true
				tr.ok.Add(1)
			case tr.routedSince:
				tr.failed = fmt.Sprintf("MESSAGE %d: %d after the route was live", i, code)
			case code != sip.StatusForbidden && code != sip.StatusNotFound && code != sip.StatusServiceUnavailable:
				// Not federated yet (403), or federated with no route yet, where SRV discovery
				// finds no DNS server in this hermetic test (503, then 404 from its negative cache).
				tr.failed = fmt.Sprintf("MESSAGE %d: %d before the configuration landed, want 403, 404 or 503", i, code)
			}
			stop := tr.failed != ""
			tr.mu.Unlock()
			if stop {
				return
			}
		}
	}()
	return tr
}

func (tr *traffic) stop() (sent, ok int64, failed string) {
	tr.once.Do(func() { close(tr.stopc) })
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.sent.Load(), tr.ok.Load(), tr.failed
}

func message(c *sipgo.Client, addr string) (int, error) {
	uri := sip.Uri{Scheme: "sip", User: "alice", Host: "domaina.com"}
	req := sip.NewRequest(sip.MESSAGE, uri)
	req.SetTransport("TCP")
	req.SetDestination(addr)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "example.com"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri, Params: sip.NewParams()})
	req.SetBody([]byte("hi"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Do(ctx, req)
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}
