package servertest

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// WithEtcd runs the proxy on etcd, as a node of the cluster under prefix. Requests to etcd time
// out after two seconds, so that tests of a node cut off from etcd are quick, yet a loaded test
// machine does not make an etcd that is there look gone.
func WithEtcd(endpoints []string, prefix string) Option {
	return func(c *server.Config) {
		c.Etcd = &etcd.Config{Endpoints: endpoints, Prefix: prefix, DialTimeout: time.Second, RequestTimeout: 2 * time.Second}
		// A node that stops leaves the cluster's list within seconds.
		c.ClusterLeaseTTL = 5 * time.Second
	}
}

// WithNode names the node: its FQDN, and its name in the logs.
func WithNode(fqdn string) Option {
	return func(c *server.Config) {
		c.Routing.NodeFQDN = fqdn
		if os.Getenv("SIPFED_TEST_LOG") != "" {
			c.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With(telemetry.KeyNode, fqdn)
		} else {
			c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
	}
}

// WithConfig changes anything else.
func WithConfig(f func(*server.Config)) Option { return func(c *server.Config) { f(c) } }
