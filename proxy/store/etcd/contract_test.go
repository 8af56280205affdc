package etcd_test

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
	"github.com/sipfed/terraform-provider-sip/proxy/store/storetest"
)

var prefixes atomic.Int64

// backend runs each contract case under its own prefix of one etcd: an empty store each time.
func backend(srv *etcdtest.Server) storetest.Backend {
	open := func(t *testing.T, prefix string) store.Store {
		s, err := etcd.Open(etcd.Config{Endpoints: srv.Endpoints(), Prefix: prefix, RequestTimeout: 10 * time.Second,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	return storetest.Backend{
		Open: func(t *testing.T) store.Store {
			return open(t, fmt.Sprintf("/contract/%d/", prefixes.Add(1)))
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			prefix := s.(*etcd.Store).Prefix()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, prefix)
		},
	}
}

// The store contract on the current etcd, embedded.
func TestContract(t *testing.T) {
	storetest.Run(t, backend(etcdtest.StartEmbedded(t)))
}

// The store contract on the etcd binary: Debian's etcd-server 3.4 in CI.
func TestContractOnEtcdBinary(t *testing.T) {
	srv := etcdtest.StartBinary(t)
	t.Logf("etcd %s", srv.Version(t))
	storetest.Run(t, backend(srv))
}
