package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
)

// populateStore writes n federated domains (and their audit entries) into a real store in dir, as
// a proxy that ran for a while leaves it, and returns the store file.
func populateStore(t *testing.T, dir string, n int) string {
	t.Helper()
	st, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		d := api.NewFederatedDomain()
		d.Domain = fmt.Sprintf("partner%05d.example.net", i)
		d.Description = fmt.Sprintf("partner number %d, federated since the beginning", i)
		v, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, api.KindFederatedDomain, d.Domain, v, store.Cond{}, "setup"); err != nil {
			t.Fatal(err)
		}
	}
	path := st.Path()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// runProxy runs sipfed-proxy with args until it exits or the timeout passes; it reports whether it
// was still running (and so was killed) at the timeout.
func runProxy(t *testing.T, timeout time.Duration, env []string, args ...string) (out string, code int, running bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(append(os.Environ(), env...), "SIPFED_PROXY_MAIN="+encodeArgs(args))
	b, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(b), -1, true
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(b), exit.ExitCode(), false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), 0, false
}

// damage is one way a store file goes bad on disk.
type damage struct {
	name string
	do   func(t *testing.T, path string)
}

var diskDamage = []damage{
	{"cut in half", func(t *testing.T, path string) {
		// Half of what the store holds: bbolt grows its file ahead of use, and cutting only
		// that slack loses nothing.
		rep, err := bolt.Check(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, int64(rep.Pages)*int64(rep.PageSize)/2); err != nil {
			t.Fatal(err)
		}
	}},
	{"200 bytes flipped in data pages", func(t *testing.T, path string) {
		rep, err := bolt.Check(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Past the two meta pages, which bbolt checksums itself, and before the slack bbolt
		// keeps for growth.
		rng := rand.New(rand.NewPCG(12, 1))
		start, end := 2*rep.PageSize, int(rep.Pages)*rep.PageSize
		for range 200 {
			data[start+rng.IntN(end-start)] ^= 0xff
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"emptied to 0 bytes", func(t *testing.T, path string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
	}},
}

// What was seen: a damaged store made serve die with SIGSEGV and a page of stack, or start empty.
// A damaged store is refused: exit 1, one line that names the file and says what to do.
func TestServeRefusesADamagedStore(t *testing.T) {
	for _, d := range diskDamage {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			path := populateStore(t, dir, 2000)
			d.do(t, path)
			out, code, running := runProxy(t, 15*time.Second, nil, "serve", "--data-dir", dir,
				"--admin-addr", "127.0.0.1:0", "--node-fqdn", "imp1.example.com", "--admin-token-file", writeTokenFile(t, t.TempDir()))
			if running {
				t.Fatalf("the proxy started on a store %s:\n%s", d.name, out)
			}
			assertRefusal(t, out, code, path)
		})
	}
}

// assertRefusal: exit 1 with one line naming the file and the way out, and no Go crash.
func assertRefusal(t *testing.T, out string, code int, path string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, crash := range []string{"panic", "fatal error", "goroutine ", "SIGSEGV", "SIGBUS"} {
		if strings.Contains(out, crash) {
			t.Fatalf("the process crashed (%q):\n%s", crash, out)
		}
	}
	var line string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, path) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no line names the store file %s:\n%s", path, out)
	}
	t.Logf("refused: %s", line)
	if !strings.Contains(line, "sipfed-proxy store restore") {
		t.Errorf("the line does not say how to restore the store:\n%s", line)
	}
}

func TestStoreCheck(t *testing.T) {
	dir := t.TempDir()
	path := populateStore(t, dir, 300)
	out, code, _ := runProxy(t, 30*time.Second, nil, "store", "check", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "store "+path+" is sound: format 1, revision 300, 300 objects, 300 audit entries") {
		t.Fatalf("sound store: exit %d\n%s", code, out)
	}
	for _, d := range diskDamage {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			path := populateStore(t, dir, 2000)
			d.do(t, path)
			out, code, _ := runProxy(t, 30*time.Second, nil, "store", "check", "--data-dir", dir)
			assertRefusal(t, out, code, path)
		})
	}
	t.Run("a running proxy's store", func(t *testing.T) {
		dir := t.TempDir()
		startProxy(t, "--data-dir", dir, "--admin-token-file", writeTokenFile(t, t.TempDir()))
		out, code, _ := runProxy(t, 30*time.Second, nil, "store", "check", "--data-dir", dir)
		if code != 1 || !strings.Contains(out, "is in use by a running sipfed-proxy") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

// config is everything a proxy serves through its admin API, as one comparable value.
func config(t *testing.T, c *api.Client) string {
	t.Helper()
	ctx := context.Background()
	var parts []any
	domains, err := c.ListFederatedDomains(ctx)
	parts = append(parts, domains.Items, err)
	routes, err := c.ListStaticRoutes(ctx)
	parts = append(parts, routes.Items, err)
	subjects, err := c.ListTLSPeerSubjects(ctx)
	parts = append(parts, subjects.Items, err)
	fqdn, _, err := c.GetFederationRoutingFQDN(ctx)
	parts = append(parts, fqdn, err)
	svc, _, err := c.GetFederationService(ctx)
	parts = append(parts, svc, err)
	changes, err := c.ListChanges(ctx, 0)
	parts = append(parts, changes, err)
	b, err := json.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Backup of a running proxy through its admin API, restore over its store once stopped: the
// restarted proxy serves exactly the configuration that was backed up, not what came after.
func TestStoreBackupRestoreRoundTrip(t *testing.T) {
	dataDir := t.TempDir()
	tokenFile := writeTokenFile(t, t.TempDir())
	p := startProxy(t, "--data-dir", dataDir, "--admin-token-file", tokenFile)
	c, err := api.NewClient(p.endpoint, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := c.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "edge.domaina.com"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []api.FederatedDomain{
		{Domain: "domaina.com", Description: "Partner A", PeerSubjects: []string{"edge.domaina.com"}},
		{Domain: "aol.example.net", Type: api.DomainTypeAOL},
	} {
		if _, _, err := c.CreateFederatedDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop = ".com.domaina.*", "192.0.2.10"
	if _, _, err := c.CreateStaticRoute(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SetFederationRoutingFQDN(ctx, "sip.example.com", ""); err != nil {
		t.Fatal(err)
	}
	want := config(t, c)

	backup := filepath.Join(t.TempDir(), "sipfed-backup.db")
	out, code, _ := runProxy(t, 30*time.Second, nil, "store", "backup", "--to", backup, "--endpoint", p.endpoint, "--admin-token-file", tokenFile)
	if code != 0 || !strings.Contains(out, "backup written to "+backup+" and verified: format 1, revision 5") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup holds the store's secrets and must be 0600: %v, %v", fi.Mode(), err)
	}
	out, code, _ = runProxy(t, 30*time.Second, []string{"SIPFED_TOKEN=wrong-token-0123456789"}, "store", "backup", "--to", backup+".2", "--endpoint", p.endpoint)
	if code != 1 || !strings.Contains(out, "401") {
		t.Fatalf("backup with a wrong token: exit %d\n%s", code, out)
	}

	// Life goes on after the backup.
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "later.example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFederatedDomain(ctx, "domaina.com", ""); err != nil {
		t.Fatal(err)
	}

	out, code, _ = runProxy(t, 30*time.Second, nil, "store", "restore", "--from", backup, "--data-dir", dataDir)
	if code != 1 || !strings.Contains(out, "is in use by a running sipfed-proxy: stop it first; nothing was restored") {
		t.Fatalf("restore under a running proxy: exit %d\n%s", code, out)
	}
	p.kill()

	out, code, _ = runProxy(t, 30*time.Second, nil, "store", "restore", "--from", backup, "--data-dir", dataDir)
	if code != 0 || !strings.Contains(out, "restored "+backup+" into "+filepath.Join(dataDir, bolt.FileName)) ||
		!strings.Contains(out, "the store it replaced is kept as "+filepath.Join(dataDir, bolt.FileName+".before-restore-")) {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	p = startProxy(t, "--data-dir", dataDir, "--admin-token-file", tokenFile)
	c, err = api.NewClient(p.endpoint, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := config(t, c); got != want {
		t.Fatalf("the restored proxy serves another configuration:\n got %s\nwant %s", got, want)
	}
	// And it goes on from there: the next write follows the restored revision.
	d, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "after.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := c.ListChanges(ctx, 5); err != nil || len(list.Items) != 1 || list.Items[0].Key != d.Domain || list.Items[0].Revision != 6 {
		t.Fatalf("the write after the restore: %+v, %v", list.Items, err)
	}
}

// A damaged backup is never restored: the store stays as it was.
func TestStoreRestoreRefusesADamagedBackup(t *testing.T) {
	src := t.TempDir()
	backup := populateStore(t, src, 2000)
	diskDamage[1].do(t, backup)
	dataDir := t.TempDir()
	path := populateStore(t, dataDir, 3)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, code, _ := runProxy(t, 30*time.Second, nil, "store", "restore", "--from", backup, "--data-dir", dataDir)
	if code != 1 || !strings.Contains(out, "store "+backup+" is damaged") || !strings.Contains(out, "nothing was restored; use another backup") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	after, err := os.ReadFile(path)
	if err != nil || string(after) != string(before) {
		t.Fatal("the store was changed by a refused restore")
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Fatalf("the data directory holds more than its store: %v", entries)
	}
}
