package api

import (
	"context"
	"net/http"
	"time"
)

// PathCluster lists the proxy nodes that share this node's configuration.
const PathCluster = "/v1/cluster"

// Store backends, as GET /v1/cluster names them.
const (
	StoreBolt = "bolt" // the embedded store: a single node
	StoreEtcd = "etcd" // a cluster sharing one etcd
)

// Cluster is the answer of GET /v1/cluster: the nodes that share one configuration, and the
// cluster-wide settings that must agree across them.
type Cluster struct {
	Store string `json:"store"`
	// Revision is the store's configuration revision.
	Revision uint64 `json:"revision"`
	// FederationRoutingFQDN is the stored routing FQDN, the cluster's one SRV target; absent
	// when none is set (each node then presents its own FQDN).
	FederationRoutingFQDN string `json:"federation_routing_fqdn,omitempty"`
	// LocalDomains and DefaultFederationRoutingDomain are the cluster's values of the flags
	// every node must agree on: those held by most nodes (the longest-running one breaks a tie).
	LocalDomains                   []string      `json:"local_domains"`
	DefaultFederationRoutingDomain string        `json:"default_federation_routing_domain"`
	Nodes                          []ClusterNode `json:"nodes"`
}

// ClusterNode is one node as it registered itself, with the revision it has applied.
type ClusterNode struct {
	NodeFQDN     string   `json:"node_fqdn"`
	SIPAddresses []string `json:"sip_addresses"`
	AdminAddress string   `json:"admin_address"`
	// PublicAddresses are the node's public IP addresses: A/AAAA records of the routing FQDN.
	PublicAddresses []string  `json:"public_addresses"`
	ExternalPort    int       `json:"external_port"`
	Version         string    `json:"version"`
	Revision        uint64    `json:"revision"`
	Started         time.Time `json:"started"`
	// LastSeen is when the node last renewed its registration.
	LastSeen                       time.Time `json:"last_seen"`
	LocalDomains                   []string  `json:"local_domains"`
	DefaultFederationRoutingDomain string    `json:"default_federation_routing_domain"`
	// Ready is false when the node's flags disagree with the cluster's; NotReady says why.
	Ready    bool     `json:"ready"`
	NotReady []string `json:"not_ready,omitempty"`
	// Self marks the node that answered.
	Self bool `json:"self"`
}

// GetCluster lists the nodes sharing the proxy's configuration.
func (c *Client) GetCluster(ctx context.Context) (Cluster, error) {
	var out Cluster
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathCluster, out: &out}, nil)
	return out, err
}
