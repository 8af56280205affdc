package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

// Three proxies on loopback sharing one real etcd: what a write through one does to the others,
// and what each does when etcd or its link to etcd goes away.

// node is a cluster node with an internal TCP SIP listener; it can be stopped and started again
// on the same configuration.
type node struct {
	*servertest.Proxy
	t   *testing.T
	cfg server.Config
	sip string // internal listener host:port
}

func startNode(t *testing.T, endpoints []string, prefix, fqdn string, opts ...servertest.Option) *node {
	t.Helper()
	opts = append([]servertest.Option{
		servertest.WithEtcd(endpoints, prefix),
		servertest.WithNode(fqdn),
		servertest.WithSIP(relay.Config{
			Internal:   []relay.Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}},
			HopTimeout: 2 * time.Second,
		}),
	}, opts...)
	n := &node{t: t, cfg: servertest.Config(t, opts...)}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	n.t.Helper()
	n.Proxy = servertest.StartUnmanaged(n.t, n.cfg)
	n.sip = n.Relay().InternalAddrs()[0].Addr
}

func (n *node) stop() {
	if n.Proxy == nil {
		return
	}
	if err := n.Close(); err != nil {
		n.t.Errorf("stopping %s: %v", n.cfg.Routing.NodeFQDN, err)
	}
	n.Proxy = nil
}

var clusterPrefixes atomic.Int64

func startCluster(t *testing.T, endpoints []string, opts ...servertest.Option) []*node {
	t.Helper()
	prefix := fmt.Sprintf("/cluster%d/", clusterPrefixes.Add(1))
	var nodes []*node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startNode(t, endpoints, prefix, fmt.Sprintf("imp%d.example.com", i), opts...))
	}
	return nodes
}

// waitLive waits until the node routes by revision rev.
func waitLive(t *testing.T, n *node, rev uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.Live().WaitRevision(ctx, rev); err != nil {
		t.Fatalf("%s: revision %d not live (at %d): %v", n.cfg.Routing.NodeFQDN, rev, n.Live().Load().Revision(), err)
	}
}

func revisionOf(t *testing.T, n *node) uint64 {
	t.Helper()
	c, err := n.Client.GetCluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c.Revision
}

func status(err error) int {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// nodeReadyz reads a node's /readyz.
func nodeReadyz(t *testing.T, n *node) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(n.Endpoint + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// metric reads one sample of a node's /metrics.
func metric(t *testing.T, n *node, name string) string {
	t.Helper()
	resp, err := http.Get(n.Endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// eventually polls cond every 50 ms until it holds or the time is up.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A write through node 1 routes on node 3: the explain endpoint says so and a SIP MESSAGE sent to
// node 3 reaches the edge the route names. GET /v1/cluster on any node lists all three.
func TestClusterWriteThroughOneNodeRoutesOnAnother(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	nodes := startCluster(t, srv.Endpoints())
	ctx := context.Background()
	edge := startEdge(t, "edge-a", "tcp")
	s3 := newSender(t, "tcp", nodes[2].sip)

	res, err := s3.message(ctx, "sip:alice@domaina.com")
	if err != nil || res.StatusCode != sip.StatusForbidden {
		t.Fatalf("before configuration: %v %v, want 403", res, err)
	}
	if _, _, err := nodes[0].Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	route, _, err := nodes[0].Client.CreateStaticRoute(ctx, staticRoute(".com.domaina.*", edge.port(), "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	rev := revisionOf(t, nodes[0])
	for _, n := range nodes {
		waitLive(t, n, rev)
	}
	ex, err := nodes[2].Client.ExplainRoute(ctx, "sip:alice@domaina.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.NextHops) == 0 || ex.NextHops[0].Port != edge.port() {
		t.Fatalf("node 3 explains %+v, want the route to port %d", ex, edge.port())
	}
	res, err = s3.message(ctx, "sip:alice@domaina.com")
	if err != nil || res.StatusCode != sip.StatusOK || edge.got.Load() != 1 {
		t.Fatalf("MESSAGE through node 3: %v %v, edge got %d", res, err, edge.got.Load())
	}

	// Every node lists every node, each at the revision it applied, all ready; the audit trail
	// reads the same through any node.
	for _, n := range nodes {
		c, err := n.Client.GetCluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Store != api.StoreEtcd || len(c.Nodes) != 3 || c.FederationRoutingFQDN != "" {
			t.Fatalf("%s: cluster %+v", n.cfg.Routing.NodeFQDN, c)
		}
		selves := 0
		for i, cn := range c.Nodes {
			if cn.NodeFQDN != fmt.Sprintf("imp%d.example.com", i+1) || !cn.Ready || cn.AdminAddress == "" ||
				len(cn.SIPAddresses) != 1 || cn.LastSeen.IsZero() || time.Since(cn.LastSeen) > time.Minute {
				t.Fatalf("%s lists %+v", n.cfg.Routing.NodeFQDN, cn)
			}
			if cn.Self {
				selves++
			}
		}
		if selves != 1 {
			t.Fatalf("%s: %d nodes marked self", n.cfg.Routing.NodeFQDN, selves)
		}
		eventually(t, 5*time.Second, "every node publishes the revision it applied", func() bool {
			c, err := n.Client.GetCluster(ctx)
			if err != nil {
				return false
			}
			for _, cn := range c.Nodes {
				if cn.Revision != rev {
					return false
				}
			}
			return true
		})
		changes, err := n.Client.ListChanges(ctx, 0)
		if err != nil || len(changes.Items) != 2 || changes.Items[1].Key != route.ID || changes.Items[1].Revision != rev {
			t.Fatalf("%s: audit trail %+v, %v", n.cfg.Routing.NodeFQDN, changes, err)
		}
	}

	// One route-marker key for the deployment, whichever node created it, and no API shows it.
	key := nodes[0].RouteMarkerKey()
	for _, n := range nodes {
		if len(key) != 32 || !bytes.Equal(n.RouteMarkerKey(), key) {
			t.Fatalf("%s has route-marker key %x, node 1 %x", n.cfg.Routing.NodeFQDN, n.RouteMarkerKey(), key)
		}
	}
	for _, path := range []string{api.PathChanges, api.PathCluster, api.PathNode, api.PathFederatedDomains + "/route-marker-key"} {
		req, _ := http.NewRequest(http.MethodGet, nodes[1].Endpoint+path, nil)
		req.Header.Set("Authorization", "Bearer "+nodes[1].Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), "route-marker"} {
			if bytes.Contains(body, []byte(enc)) && !strings.HasSuffix(path, "route-marker-key") {
				t.Fatalf("GET %s shows the route-marker key: %s", path, body)
			}
		}
		if strings.HasSuffix(path, "route-marker-key") && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}

	// The routing FQDN is the cluster's one SRV target: set through node 2, read by all.
	if _, _, err := nodes[1].Client.SetFederationRoutingFQDN(ctx, "sipfed.example.com", ""); err != nil {
		t.Fatal(err)
	}
	c, err := nodes[2].Client.GetCluster(ctx)
	if err != nil || c.FederationRoutingFQDN != "sipfed.example.com" {
		t.Fatalf("cluster after the routing FQDN was set: %+v, %v", c, err)
	}
	waitLive(t, nodes[2], c.Revision)
	if got := nodes[2].Live().Load().RecordRouteHost("domaina.com"); got != "sipfed.example.com" {
		t.Fatalf("node 3 presents %q", got)
	}
}

// Two If-Match writes of one object through two nodes at once: one 2xx, one 412, every time.
func TestClusterIfMatchRaceAcrossNodes(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	nodes := startCluster(t, srv.Endpoints())
	ctx := context.Background()
	d, etag, err := nodes[0].Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "race.com"})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		var (
			wg    sync.WaitGroup
			errs  [2]error
			etags [2]string
		)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := d
				v.Description = fmt.Sprintf("round %d by node %d", round, i+1)
				_, etags[i], errs[i] = nodes[i].Client.UpdateFederatedDomain(ctx, v, etag)
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("round %d: both writes with If-Match %s succeeded", round, etag)
				}
				won = i
			case status(err) != http.StatusPreconditionFailed:
				t.Fatalf("round %d: node %d: %v, want 412", round, i+1, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no write succeeded: %v", round, errs)
		}
		etag = etags[won]
		got, gotTag, err := nodes[2].Client.GetFederatedDomain(ctx, "race.com")
		if err != nil || gotTag != etag || got.Description != fmt.Sprintf("round %d by node %d", round, won+1) {
			t.Fatalf("round %d: node 3 reads %+v %s, %v; want the winner's write at %s", round, got, gotTag, err, etag)
		}
	}
}

// etcd killed (the Debian binary, SIGKILL): routing goes on, writes answer 503, /readyz and a
// metric say so; etcd back: writes resume and nothing acknowledged is lost.
func TestClusterSurvivesEtcdKilled(t *testing.T) {
	srv := etcdtest.StartBinary(t)
	nodes := startCluster(t, srv.Endpoints())
	ctx := context.Background()
	edge := startEdge(t, "edge-a", "tcp")
	if _, _, err := nodes[0].Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodes[0].Client.CreateStaticRoute(ctx, staticRoute(".com.domaina.*", edge.port(), "tcp")); err != nil {
		t.Fatal(err)
	}
	acked := []string{"domaina.com"}
	for i := range 10 {
		name := fmt.Sprintf("before%d.com", i)
		if _, _, err := nodes[i%3].Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: name}); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, name)
	}
	rev := revisionOf(t, nodes[0])
	for _, n := range nodes {
		waitLive(t, n, rev)
	}

	srv.Stop()
	for i, n := range nodes {
		res, err := newSender(t, "tcp", n.sip).message(ctx, "sip:alice@domaina.com")
		if err != nil || res.StatusCode != sip.StatusOK {
			t.Fatalf("node %d with etcd down: %v %v, want 200 (routing by the last snapshot)", i+1, res, err)
		}
		_, _, err = n.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: fmt.Sprintf("down%d.com", i)})
		if status(err) != http.StatusServiceUnavailable {
			t.Fatalf("node %d: write with etcd down: %v, want 503", i+1, err)
		}
	}
	if edge.got.Load() != 3 {
		t.Fatalf("edge got %d MESSAGEs, want 3", edge.got.Load())
	}
	eventually(t, 10*time.Second, "node 1 reports etcd unreachable", func() bool {
		code, body := nodeReadyz(t, nodes[0])
		return code == http.StatusOK && body["store_reachable"] == false &&
			strings.Contains(fmt.Sprint(body["store_detail"]), "writes answer 503") &&
			metric(t, nodes[0], "sipfed_cluster_store_reachable") == "0"
	})

	srv.Start()
	eventually(t, 20*time.Second, "writes resume", func() bool {
		_, _, err := nodes[1].Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "after.com"})
		return err == nil
	})
	acked = append(acked, "after.com")
	rev = revisionOf(t, nodes[1])
	for i, n := range nodes {
		waitLive(t, n, rev)
		for _, d := range acked {
			if _, ok := n.Live().Load().Domain(d); !ok {
				t.Fatalf("node %d lost acknowledged domain %s", i+1, d)
			}
		}
		if _, _, err := n.Client.GetFederatedDomain(ctx, "down0.com"); status(err) != http.StatusNotFound {
			t.Fatalf("a write answered 503 was committed: %v", err)
		}
	}
	eventually(t, 10*time.Second, "node 1 reports etcd reachable", func() bool {
		_, body := nodeReadyz(t, nodes[0])
		return body["store_reachable"] == true && metric(t, nodes[0], "sipfed_cluster_store_reachable") == "1"
	})
}

// A node cut off from etcd keeps routing, answers writes 503 and says so; back, it catches up.
// A node restarted catches up too, and is listed again.
func TestClusterNodePartitionedAndRestartedCatchUp(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	cut := etcdtest.NewCutter(t, srv.Endpoint())
	prefix := fmt.Sprintf("/cluster%d/", clusterPrefixes.Add(1))
	n1 := startNode(t, srv.Endpoints(), prefix, "imp1.example.com")
	n2 := startNode(t, srv.Endpoints(), prefix, "imp2.example.com")
	n3 := startNode(t, []string{cut.Endpoint()}, prefix, "imp3.example.com")
	ctx := context.Background()
	edgeA, edgeB := startEdge(t, "edge-a", "tcp"), startEdge(t, "edge-b", "tcp")
	if _, _, err := n1.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	route, etag, err := n1.Client.CreateStaticRoute(ctx, staticRoute(".com.domaina.*", edgeA.port(), "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	waitLive(t, n3, revisionOf(t, n1))

	cut.Cut()
	route.NextHopPort = edgeB.port()
	if _, _, err = n1.Client.UpdateStaticRoute(ctx, route, etag); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := n2.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: fmt.Sprintf("p%d.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	rev := revisionOf(t, n1)
	s3 := newSender(t, "tcp", n3.sip)
	if res, err := s3.message(ctx, "sip:alice@domaina.com"); err != nil || res.StatusCode != sip.StatusOK || edgeA.got.Load() != 1 {
		t.Fatalf("partitioned node 3: %v %v, edge A got %d; want 200 through its last snapshot (edge A)", res, err, edgeA.got.Load())
	}
	if _, _, err := n3.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "cut.com"}); status(err) != http.StatusServiceUnavailable {
		t.Fatalf("write through the partitioned node: %v, want 503", err)
	}
	eventually(t, 10*time.Second, "node 3 says it is cut off", func() bool {
		_, body := nodeReadyz(t, n3)
		return body["store_reachable"] == false
	})
	eventually(t, 20*time.Second, "the others stop listing node 3 once its lease lapses", func() bool {
		c, err := n1.Client.GetCluster(ctx)
		return err == nil && len(c.Nodes) == 2
	})

	cut.Restore()
	waitLive(t, n3, rev)
	if res, err := s3.message(ctx, "sip:alice@domaina.com"); err != nil || res.StatusCode != sip.StatusOK || edgeB.got.Load() != 1 {
		t.Fatalf("node 3 back: %v %v, edge B got %d", res, err, edgeB.got.Load())
	}
	eventually(t, 10*time.Second, "node 3 registered again and reachable", func() bool {
		c, err := n1.Client.GetCluster(ctx)
		_, body := nodeReadyz(t, n3)
		return err == nil && len(c.Nodes) == 3 && body["store_reachable"] == true
	})

	// Node 2 restarted while writes go on elsewhere.
	n2.stop()
	for i := range 5 {
		if _, _, err := n1.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: fmt.Sprintf("r%d.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	rev = revisionOf(t, n1)
	n2.start()
	if got := n2.Live().Load().Revision(); got != rev {
		t.Fatalf("restarted node 2 at revision %d, want %d", got, rev)
	}
	if _, ok := n2.Live().Load().Domain("r4.com"); !ok {
		t.Fatal("restarted node 2 misses a write made while it was down")
	}
	c, err := n2.Client.GetCluster(ctx)
	if err != nil || len(c.Nodes) != 3 {
		t.Fatalf("after the restart: %+v, %v", c, err)
	}
}

// Flags that must agree: a node started with other local domains is not ready, and every node's
// /v1/cluster says why; the others stay ready.
func TestClusterNodeWithDisagreeingFlagsIsNotReady(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	nodes := startCluster(t, srv.Endpoints())
	prefix := nodes[0].cfg.Etcd.Prefix
	odd := startNode(t, srv.Endpoints(), prefix, "imp4.example.com", servertest.WithConfig(func(c *server.Config) {
		c.Routing.LocalDomains = []string{"example.com", "other.example"}
	}))
	code, body := nodeReadyz(t, odd)
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["status"]), "--local-domain example.com,other.example differs from the cluster's example.com") {
		t.Fatalf("disagreeing node: /readyz %d %v", code, body)
	}
	if metric(t, odd, "sipfed_cluster_node_ready") != "0" {
		t.Fatal("the node_ready metric does not say so")
	}
	eventually(t, 5*time.Second, "the others see node 4 and stay ready", func() bool {
		code, _ := nodeReadyz(t, nodes[0])
		c, err := nodes[0].Client.GetCluster(context.Background())
		if code != http.StatusOK || err != nil || len(c.Nodes) != 4 {
			return false
		}
		for _, n := range c.Nodes {
			if n.Ready != (n.NodeFQDN != "imp4.example.com") {
				return false
			}
		}
		return len(c.Nodes[3].NotReady) == 1 && strings.Contains(c.Nodes[3].NotReady[0], "held by 3 of 4 nodes")
	})
}

// Two running processes with one --node-fqdn: the second does not start, and says why. A node
// that crashed (its lease still running) is replaced once the lease lapses.
func TestClusterRefusesADuplicateNodeFQDN(t *testing.T) {
	srv := etcdtest.StartEmbedded(t)
	nodes := startCluster(t, srv.Endpoints())
	cfg := servertest.Config(t, servertest.WithEtcd(srv.Endpoints(), nodes[0].cfg.Etcd.Prefix), servertest.WithNode("imp2.example.com"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	dup, err := server.Start(ctx, cfg)
	if err == nil {
		_ = dup.Close()
		t.Fatal("a second process started as imp2.example.com")
	}
	if !strings.Contains(err.Error(), "--node-fqdn") || !strings.Contains(err.Error(), nodes[1].AdminURL()[len("http://"):]) {
		t.Fatalf("error does not say why: %v", err)
	}
	if took := time.Since(start); took < cfg.ClusterLeaseTTL {
		t.Fatalf("refused after %v, before a crashed predecessor's lease could lapse", took)
	}
	if code, _ := nodeReadyz(t, nodes[1]); code != http.StatusOK {
		t.Fatalf("the running imp2 is not ready any more: %d", code)
	}
}
