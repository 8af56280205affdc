package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

func client(t *testing.T, endpoint string) *api.Client {
	t.Helper()
	c, err := api.NewClient(endpoint, testToken, api.WithRetry(api.Retry{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runMain(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "SIPFED_PROXY_MAIN="+encodeArgs(args))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A single node's configuration moves into a cluster with `store copy`: objects, the audit trail
// with its original revisions, and the route-marker key; a node started with --store etcd serves
// it. A second copy into the same prefix is refused.
func TestStoreCopyFromBoltIntoEtcd(t *testing.T) {
	dir := t.TempDir()
	tokens := writeTokenFile(t, t.TempDir())
	ctx := context.Background()
	// With a SIP listener, so that it has made its route-marker key.
	single := startProxy(t, "--data-dir", dir, "--admin-token-file", tokens, "--sip-internal", "tcp://127.0.0.1:0")
	c := client(t, single.endpoint)
	for _, d := range []string{"a.com", "b.com", "gone.com"} {
		if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: d}); err != nil {
			t.Fatal(err)
		}
	}
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop = ".com.a.*", "192.0.2.1"
	route, _, err := c.CreateStaticRoute(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFederatedDomain(ctx, "gone.com", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SetFederationRoutingFQDN(ctx, "sipfed.example.com", ""); err != nil {
		t.Fatal(err)
	}
	before, err := c.ListChanges(ctx, 0)
	if err != nil || len(before.Items) != 6 {
		t.Fatalf("single node's audit trail: %+v, %v", before, err)
	}
	single.kill()

	srv := etcdtest.StartEmbedded(t)
	out, err := runMain(t, "store", "copy", "--from", "bolt:"+dir, "--to", "etcd:"+srv.Endpoint(), "--etcd-prefix", "/moved/")
	if err != nil || !strings.Contains(out, "copied 4 objects and 6 audit entries") || !strings.Contains(out, "route-marker key") {
		t.Fatalf("store copy: %v\n%s", err, out)
	}
	out, err = runMain(t, "store", "copy", "--from", "bolt:"+dir, "--to", "etcd:"+srv.Endpoint(), "--etcd-prefix", "/moved/")
	if err == nil || !strings.Contains(out, "already holds a configuration") {
		t.Fatalf("second copy into the same prefix: %v\n%s", err, out)
	}

	node := startProxy(t, "--store", "etcd", "--etcd-endpoints", srv.Endpoint(), "--etcd-prefix", "/moved/",
		"--data-dir", t.TempDir(), "--admin-token-file", tokens)
	c = client(t, node.endpoint)
	domains, err := c.ListFederatedDomains(ctx)
	if err != nil || len(domains.Items) != 2 || domains.Items[0].Domain != "a.com" || domains.Items[1].Domain != "b.com" {
		t.Fatalf("domains in the cluster: %+v, %v", domains, err)
	}
	if got, _, err := c.GetStaticRoute(ctx, route.ID); err != nil || got.NextHop != "192.0.2.1" {
		t.Fatalf("route in the cluster: %+v, %v", got, err)
	}
	cl, err := c.GetCluster(ctx)
	if err != nil || cl.Store != api.StoreEtcd || cl.FederationRoutingFQDN != "sipfed.example.com" || len(cl.Nodes) != 1 {
		t.Fatalf("cluster: %+v, %v", cl, err)
	}
	after, err := c.ListChanges(ctx, 0)
	if err != nil || len(after.Items) != 6+4 {
		t.Fatalf("cluster's audit trail: %d entries, %v; want the 6 copied and 4 creates by the copy", len(after.Items), err)
	}
	for i, ch := range before.Items {
		got := after.Items[i]
		if got.OriginalRevision != ch.Revision || got.Key != ch.Key || got.Action != ch.Action || got.Actor != ch.Actor || !got.Time.Equal(ch.Time) {
			t.Fatalf("copied entry %d = %+v, want %+v with its revision as original_revision", i, got, ch)
		}
	}
	for _, ch := range after.Items[6:] {
		if ch.Actor != "store-copy" || ch.Action != api.ActionCreate || ch.OriginalRevision != 0 {
			t.Fatalf("copy's own entry %+v", ch)
		}
	}
}

func TestStoreCommandRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"store"}, "store needs a subcommand"},
		{[]string{"store", "merge"}, "unknown subcommand"},
		{[]string{"store", "copy", "--from", "/data", "--to", "etcd:http://127.0.0.1:1"}, "bolt:DATA-DIR"},
		{[]string{"store", "copy", "--from", "bolt:/data", "--to", "http://127.0.0.1:1"}, "etcd:URL"},
	} {
		out, err := runMain(t, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %v\n%s", tc.args, err, out)
		}
	}
	out, err := runMain(t, "serve", "--store", "etcd", "--data-dir", t.TempDir(), "--admin-addr", "127.0.0.1:0", "--node-fqdn", "imp1.example.com")
	if err == nil || !strings.Contains(out, "--etcd-endpoints") {
		t.Errorf("--store etcd without endpoints: %v\n%s", err, out)
	}
	out, err = runMain(t, "serve", "--store", "etcd", "--etcd-endpoints", "http://"+freePort(t), "--etcd-dial-timeout", "300ms",
		"--etcd-request-timeout", "300ms", "--data-dir", t.TempDir(), "--admin-addr", "127.0.0.1:0", "--node-fqdn", "imp1.example.com")
	if err == nil || !strings.Contains(out, "etcd store") || !strings.Contains(out, "unavailable") {
		t.Errorf("--store etcd with nothing listening: %v\n%s", err, out)
	}
}
