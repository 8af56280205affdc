package admin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/cluster"
)

// The cluster view: GET /v1/cluster lists the nodes sharing this node's configuration, and /readyz
// of a cluster node says whether its flags agree with the cluster's and whether etcd answers.

// singleNode is the cluster of a proxy on the embedded store: itself.
func singleNode(cfg Config) *cluster.Cluster {
	c, _ := cluster.New(cluster.Config{Store: cfg.Store, Live: cfg.Live, Log: cfg.Log, Self: api.ClusterNode{
		NodeFQDN: cfg.Routing.NodeFQDN, LocalDomains: cfg.Routing.LocalDomains, ExternalPort: cfg.ExternalPort,
		DefaultFederationRoutingDomain: cfg.Routing.DefaultFederationRoutingDomain,
	}})
	return c
}

func (s *Server) clusterView(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	v, err := s.cfg.Cluster.View(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	setRevision(w, v.Revision)
	writeJSON(w, http.StatusOK, v)
}

// clusterReadyz: a node whose flags disagree with the cluster's is not ready. A node cut off from
// etcd stays ready, for it routes by its last snapshot, and says so: writes answer 503 meanwhile.
func (s *Server) clusterReadyz(w http.ResponseWriter) {
	rd := s.cfg.Cluster.Readiness()
	rev := s.cfg.Live.Load().Revision()
	body := map[string]any{"status": "ready", "revision": rev, "store": api.StoreEtcd, "store_reachable": rd.StoreReachable}
	if !rd.StoreReachable {
		body["store_detail"] = fmt.Sprintf("etcd unreachable since %s (%s): routing by the snapshot at revision %d; writes answer 503 until etcd is back",
			rd.UnreachableSince.Format(time.RFC3339), rd.StoreError, rev)
	}
	if !rd.Ready {
		body["status"] = "not ready: " + strings.Join(rd.NotReady, "; ")
		body["not_ready"] = rd.NotReady
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}
