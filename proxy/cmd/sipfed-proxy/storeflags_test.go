package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

// --etcd-ca, --etcd-cert and --etcd-key reach an etcd that serves TLS and requires client
// certificates; without a client certificate, or trusting another CA, the store is unavailable.
func TestEtcdClientTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.MustCA("etcd CA")
	serverFiles, err := ca.MustIssue(testpki.LeafOptions{CN: "etcd", DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).WriteFiles(dir, "etcd", ca)
	if err != nil {
		t.Fatal(err)
	}
	clientFiles, err := ca.MustIssue(testpki.LeafOptions{CN: "sipfed-proxy"}).WriteFiles(dir, "proxy", ca)
	if err != nil {
		t.Fatal(err)
	}
	other := testpki.MustCA("another CA")
	otherFiles, err := other.MustIssue(testpki.LeafOptions{CN: "x"}).WriteFiles(dir, "other", other)
	if err != nil {
		t.Fatal(err)
	}
	srv := etcdtest.StartEmbeddedTLS(t, etcdtest.TLSFiles{Cert: serverFiles.Cert, Key: serverFiles.Key, CA: serverFiles.CA})
	if !strings.HasPrefix(srv.Endpoint(), "https://") {
		t.Fatalf("endpoint %s", srv.Endpoint())
	}
	base := storeFlags{backend: "etcd", endpoints: srv.Endpoint(), prefix: "/tls/", ca: clientFiles.CA, cert: clientFiles.Cert,
		key: clientFiles.Key, dialTimeout: time.Second, requestTimeout: 2 * time.Second}
	put := func(f storeFlags) error {
		t.Helper()
		cfg, err := f.etcdConfig()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		st, err := etcd.Open(*cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = st.Put(context.Background(), api.KindFederatedDomain, "a.com", []byte(`{}`), store.Cond{}, "t")
		return err
	}
	if err := put(base); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	noCert := base
	noCert.cert, noCert.key = "", ""
	if err := put(noCert); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("without a client certificate: %v, want ErrUnavailable", err)
	}
	wrongCA := base
	wrongCA.ca = otherFiles.CA
	if err := put(wrongCA); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("trusting another CA: %v, want ErrUnavailable", err)
	}

	for _, tc := range []struct {
		change func(*storeFlags)
		want   string
	}{
		{func(f *storeFlags) { f.key = "" }, "go together"},
		{func(f *storeFlags) { f.endpoints = "http://127.0.0.1:2379" }, "https"},
		{func(f *storeFlags) { f.endpoints = " , " }, "--etcd-endpoints"},
		{func(f *storeFlags) { f.prefix = "sipfed" }, "--etcd-prefix"},
		{func(f *storeFlags) { f.backend = "consul" }, "--store"},
		{func(f *storeFlags) { f.ca = dir + "/missing.pem" }, "--etcd-ca"},
	} {
		f := base
		tc.change(&f)
		if _, err := f.etcdConfig(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %q", f, err, tc.want)
		}
	}
}
