package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
)

// storeFlags choose the configuration store: the embedded bbolt file (default), or etcd shared by
// the nodes of a cluster.
type storeFlags struct {
	backend        string
	endpoints      string
	prefix         string
	ca, cert, key  string
	dialTimeout    time.Duration
	requestTimeout time.Duration
	publicAddrs    stringsFlag
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.backend, "store", "bolt", "configuration store: bolt (embedded, one node) or etcd (a cluster sharing one etcd)")
	fs.StringVar(&f.endpoints, "etcd-endpoints", "", "etcd client URLs, comma-separated (with --store etcd), e.g. https://10.0.0.1:2379,https://10.0.0.2:2379")
	fs.StringVar(&f.prefix, "etcd-prefix", etcd.DefaultPrefix, "prefix of every key in etcd: clusters sharing one etcd need one each")
	fs.StringVar(&f.ca, "etcd-ca", "", "PEM CA bundle etcd's server certificate must chain to (https endpoints)")
	fs.StringVar(&f.cert, "etcd-cert", "", "PEM client certificate presented to etcd")
	fs.StringVar(&f.key, "etcd-key", "", "PEM private key of --etcd-cert")
	fs.DurationVar(&f.dialTimeout, "etcd-dial-timeout", 5*time.Second, "bound of a connection attempt to etcd")
	fs.DurationVar(&f.requestTimeout, "etcd-request-timeout", 5*time.Second, "bound of one store call to etcd; a write that takes longer answers 503 (nothing committed) or 504 commit_unknown")
	fs.Var(&f.publicAddrs, "public-address", "this node's public IP address, an A/AAAA record of the federation routing FQDN (repeatable; default: the --sip-external address unless it is a wildcard)")
}

// etcdConfig is nil for the embedded store.
func (f *storeFlags) etcdConfig() (*etcd.Config, error) {
	switch f.backend {
	case "bolt":
		if f.endpoints != "" {
			return nil, errors.New("--etcd-endpoints needs --store etcd")
		}
		return nil, nil
	case "etcd":
	default:
		return nil, fmt.Errorf("--store %q: want bolt or etcd", f.backend)
	}
	var endpoints []string
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	if len(endpoints) == 0 {
		return nil, errors.New("--store etcd needs --etcd-endpoints")
	}
	if !strings.HasPrefix(f.prefix, "/") {
		return nil, fmt.Errorf("--etcd-prefix %q: want a path such as /sipfed/", f.prefix)
	}
	if f.dialTimeout <= 0 || f.requestTimeout <= 0 {
		return nil, errors.New("--etcd-dial-timeout and --etcd-request-timeout must be positive")
	}
	tlsCfg, err := f.tls(endpoints)
	if err != nil {
		return nil, err
	}
	return &etcd.Config{Endpoints: endpoints, Prefix: f.prefix, TLS: tlsCfg,
		DialTimeout: f.dialTimeout, RequestTimeout: f.requestTimeout}, nil
}

func (f *storeFlags) tls(endpoints []string) (*tls.Config, error) {
	if (f.cert == "") != (f.key == "") {
		return nil, errors.New("--etcd-cert and --etcd-key go together")
	}
	secure := false
	for _, e := range endpoints {
		secure = secure || strings.HasPrefix(e, "https://")
	}
	if f.ca == "" && f.cert == "" {
		if secure {
			// The system's roots verify etcd's certificate.
			return &tls.Config{MinVersion: tls.VersionTLS12}, nil
		}
		return nil, nil
	}
	if !secure {
		return nil, errors.New("--etcd-ca/--etcd-cert need https:// endpoints")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-ca %s: no PEM certificate in it", f.ca)
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (f *storeFlags) publicAddresses() ([]string, error) {
	var out []string
	for _, a := range f.publicAddrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("--public-address %q: want an IP address (an A or AAAA record)", a)
		}
		out = append(out, ip.Unmap().String())
	}
	return out, nil
}
