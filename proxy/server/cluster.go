package server

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/cluster"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
)

// openStore opens the configured store: etcd when Config.Etcd is set (checked to answer, so that a
// wrong endpoint fails the start with one line rather than a node that never loads), else bbolt
// in the data directory.
func openStore(ctx context.Context, cfg Config, reg prometheus.Registerer) (store.Store, *etcd.Store, error) {
	if cfg.Etcd == nil {
		st, err := bolt.Open(cfg.DataDir, bolt.Options{Log: cfg.Log})
		return st, nil, err
	}
	ec := *cfg.Etcd
	ec.Log, ec.Registerer = cfg.Log, reg
	st, err := etcd.Open(ec)
	if err != nil {
		return nil, nil, err
	}
	if err := st.Ping(ctx); err != nil {
		_ = st.Close()
		return nil, nil, fmt.Errorf("etcd store: %w", err)
	}
	return st, st, nil
}

// startCluster registers the node in its cluster, on etcd.
func (s *Server) startCluster(ctx, runCtx context.Context, reg prometheus.Registerer, externalPort int) error {
	if s.etcd == nil {
		return nil
	}
	self := api.ClusterNode{
		NodeFQDN: s.cfg.Routing.NodeFQDN, AdminAddress: s.adminLn.Addr().String(), ExternalPort: externalPort,
		Version: s.cfg.Version, LocalDomains: s.cfg.Routing.LocalDomains,
		DefaultFederationRoutingDomain: s.cfg.Routing.DefaultFederationRoutingDomain,
		PublicAddresses:                s.cfg.PublicAddresses,
	}
	if self.DefaultFederationRoutingDomain == "" {
		self.DefaultFederationRoutingDomain = api.DefaultFederationRoutingDomain
	}
	if s.relay != nil {
		for _, l := range append(s.relay.InternalAddrs(), s.relay.ExternalAddrs()...) {
			self.SIPAddresses = append(self.SIPAddresses, l.String())
		}
		if len(self.PublicAddresses) == 0 {
			self.PublicAddresses = publicAddresses(s.relay.ExternalAddrs())
		}
	}
	c, err := cluster.New(cluster.Config{Self: self, Store: s.store, Etcd: s.etcd, Live: s.syncer.Live(),
		Registerer: reg, Log: s.cfg.Log, LeaseTTL: s.cfg.ClusterLeaseTTL})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	s.cluster = c
	s.goRun("cluster", func() error { return c.Run(runCtx) })
	return nil
}

// publicAddresses are the addresses of the external listeners that are bound to one address:
// a wildcard listener says nothing of the address partners reach (give --public-address then).
func publicAddresses(ls []relay.Listener) []string {
	var out []string
	for _, l := range ls {
		ap := l.AddrPort()
		if !ap.IsValid() || ap.Addr().IsUnspecified() {
			continue
		}
		out = append(out, ap.Addr().Unmap().String())
	}
	return out
}

// Cluster is the node's cluster membership; nil on the embedded store.
func (s *Server) Cluster() *cluster.Cluster { return s.cluster }

// RouteMarkerKey is the deployment's route-marker key (deployment.go), the same on every node of
// a cluster; nil without SIP listeners.
func (s *Server) RouteMarkerKey() []byte { return s.routeMarkerKey }

// Store is the configuration store the proxy runs on.
func (s *Server) Store() store.Store { return s.store }
