package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
)

const copyUsage = `usage: sipfed-proxy store copy --from bolt:DATA-DIR --to etcd:URL[,URL...] [--etcd-prefix /sipfed/] [--etcd-ca ... --etcd-cert ... --etcd-key ...]`

// copyBatch is how many objects go into one etcd transaction (etcd takes 128 operations, two per
// object with its audit entry).
const copyBatch = 50

// storeCopy moves a single node's configuration into a cluster: the audit trail first, each entry
// keeping its original revision, then every object (created anew: revisions are renumbered, so
// every ETag changes, and the provider's next plan re-reads them), then the route-marker key, so
// that dialogs routed before the move still find their way. The target prefix must be empty: a
// copy never merges two configurations.
func storeCopy(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("store copy", flag.ContinueOnError)
	from := fs.String("from", "", "the single node's store: bolt:DATA-DIR (stop that proxy first)")
	to := fs.String("to", "", "the cluster's store: etcd:URL[,URL...]")
	var sf storeFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("store copy takes no arguments, got %q\n%s", fs.Args(), copyUsage)
	}
	dir, ok := strings.CutPrefix(*from, "bolt:")
	if !ok || dir == "" {
		return fmt.Errorf("--from %q: want bolt:DATA-DIR\n%s", *from, copyUsage)
	}
	endpoints, ok := strings.CutPrefix(*to, "etcd:")
	if !ok || endpoints == "" {
		return fmt.Errorf("--to %q: want etcd:URL[,URL...]\n%s", *to, copyUsage)
	}
	sf.backend, sf.endpoints = "etcd", endpoints
	ecfg, err := sf.etcdConfig()
	if err != nil {
		return err
	}
	ecfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	src, err := bolt.Open(dir, bolt.Options{LockTimeout: time.Second})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := etcd.Open(*ecfg)
	if err != nil {
		return err
	}
	defer dst.Close()
	ctx := context.Background()
	if err := requireEmpty(ctx, dst); err != nil {
		return err
	}
	res, err := copyStore(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "copied %d objects and %d audit entries from %s (revision %d) to etcd %s%s (revision %d)\n",
		res.objects, res.changes, src.Path(), res.fromRevision, endpoints, dst.Prefix(), res.toRevision)
	if res.marker {
		fmt.Fprintln(out, "copied the route-marker key: dialogs routed by the single node stay routable by the cluster")
	}
	fmt.Fprintln(out, "revisions are renumbered (every ETag changed; the audit entries keep their original revisions): run terraform plan to refresh")
	return nil
}

func requireEmpty(ctx context.Context, dst *etcd.Store) error {
	rev, err := dst.Revision(ctx)
	if err != nil {
		return err
	}
	objs, _, err := dst.ListAll(ctx)
	if err != nil {
		return err
	}
	if rev != 0 || len(objs) > 0 {
		return fmt.Errorf("etcd prefix %s already holds a configuration (revision %d, %d objects): copy into an empty prefix (--etcd-prefix)", dst.Prefix(), rev, len(objs))
	}
	if _, err := dst.Get(ctx, state.KindDeployment, state.KeyRouteMarker); err == nil {
		return fmt.Errorf("etcd prefix %s already has a route-marker key: a cluster has run there; copy into an empty prefix", dst.Prefix())
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

type copyResult struct {
	objects, changes         int
	fromRevision, toRevision uint64
	marker                   bool
}

func copyStore(ctx context.Context, src store.Store, dst *etcd.Store) (copyResult, error) {
	var res copyResult
	for since := uint64(0); ; {
		evs, err := src.Changes(ctx, since, 1000)
		if err != nil {
			return res, err
		}
		if len(evs) == 0 {
			break
		}
		if err := dst.ImportAudit(ctx, evs); err != nil {
			return res, fmt.Errorf("copying the audit trail: %w", err)
		}
		res.changes += len(evs)
		since = evs[len(evs)-1].Revision
	}
	objs, rev, err := src.ListAll(ctx)
	if err != nil {
		return res, err
	}
	res.fromRevision = rev
	for len(objs) > 0 {
		n := min(len(objs), copyBatch)
		ops := make([]store.Op, n)
		for i, o := range objs[:n] {
			ops[i] = store.Op{Kind: o.Kind, Key: o.Key, Value: o.Value, Cond: store.Cond{MustNotExist: true}}
		}
		if _, err := dst.Txn(ctx, ops, "store-copy"); err != nil {
			return res, fmt.Errorf("copying objects: %w", err)
		}
		res.objects += n
		objs = objs[n:]
	}
	marker, err := src.Get(ctx, state.KindDeployment, state.KeyRouteMarker)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return res, err
	default:
		if _, err := dst.Txn(ctx, []store.Op{{Kind: state.KindDeployment, Key: state.KeyRouteMarker, Value: marker.Value,
			Side: true, Cond: store.Cond{MustNotExist: true}}}, "store-copy"); err != nil {
			return res, fmt.Errorf("copying the route-marker key: %w", err)
		}
		res.marker = true
	}
	if res.toRevision, err = dst.Revision(ctx); err != nil {
		return res, err
	}
	return res, nil
}
