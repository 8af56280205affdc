package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd/etcdtest"
)

// The cluster's numbers, on loopback with a real etcd (the embedded current one, fsync on):
//
//	go test -run '^$' -bench 'Cluster|AdminWrite' -benchtime 500x ./proxy/server/

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func reportLatency(b *testing.B, prefix string, d []time.Duration) {
	b.ReportMetric(float64(percentile(d, 0.50).Microseconds())/1000, prefix+"-p50-ms")
	b.ReportMetric(float64(percentile(d, 0.99).Microseconds())/1000, prefix+"-p99-ms")
}

func benchCluster(b *testing.B) []*node {
	b.Helper()
	srv := etcdtest.StartEmbedded(b)
	prefix := fmt.Sprintf("/bench%d/", clusterPrefixes.Add(1))
	var nodes []*node
	for i := 1; i <= 3; i++ {
		cfg := servertest.Config(b, servertest.WithEtcd(srv.Endpoints(), prefix), servertest.WithNode(fmt.Sprintf("imp%d.example.com", i)))
		p := servertest.StartUnmanaged(b, cfg)
		b.Cleanup(func() { _ = p.Close() })
		nodes = append(nodes, &node{Proxy: p, cfg: cfg})
	}
	return nodes
}

// Propagation: from sending a write to node 1 until it is live on all three nodes; and the write's
// own latency (its 2xx comes once it is committed in etcd and live on node 1).
func BenchmarkClusterPropagation(b *testing.B) {
	nodes := benchCluster(b)
	ctx := context.Background()
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop = ".com.domaina.*", "192.0.2.1"
	r, etag, err := nodes[0].Client.CreateStaticRoute(ctx, r)
	if err != nil {
		b.Fatal(err)
	}
	prop := make([]time.Duration, 0, b.N)
	write := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		r.Weight = i % 100
		start := time.Now()
		var rev uint64
		r, etag, err = nodes[0].Client.UpdateStaticRoute(ctx, r, etag)
		if err != nil {
			b.Fatal(err)
		}
		write = append(write, time.Since(start))
		if _, err := fmt.Sscanf(etag, `"%d"`, &rev); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, n := range nodes[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := n.Live().WaitRevision(wctx, rev); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		prop = append(prop, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, "write", write)
	reportLatency(b, "live-on-3", prop)
}

// Writes per second through one node and through three, 12 concurrent writers in all.
func BenchmarkClusterWrites(b *testing.B) {
	for _, through := range []int{1, 3} {
		b.Run(fmt.Sprintf("through-%d", through), func(b *testing.B) {
			nodes := benchCluster(b)
			benchWrites(b, nodes[:through])
		})
	}
}

func benchWrites(b *testing.B, nodes []*node) {
	const writers = 12
	ctx := context.Background()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := nodes[w%len(nodes)].Client
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: fmt.Sprintf("d%d.example.net", i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

// The admin write path, 12 concurrent writers through one node: bbolt (which shares one commit
// and fsync among concurrent writers) against etcd.
func BenchmarkAdminWritesConcurrent(b *testing.B) {
	for _, backend := range []string{"bolt", "etcd"} {
		b.Run(backend, func(b *testing.B) {
			var opts []servertest.Option
			if backend == "etcd" {
				srv := etcdtest.StartEmbedded(b)
				opts = append(opts, servertest.WithEtcd(srv.Endpoints(), "/write/"))
			}
			p := servertest.Start(b, opts...)
			benchWrites(b, []*node{{Proxy: p}})
		})
	}
}

// The admin write path, one writer: bbolt against etcd (a create answers once durable and live).
func BenchmarkAdminWrite(b *testing.B) {
	for _, backend := range []string{"bolt", "etcd"} {
		b.Run(backend, func(b *testing.B) {
			var opts []servertest.Option
			if backend == "etcd" {
				srv := etcdtest.StartEmbedded(b)
				opts = append(opts, servertest.WithEtcd(srv.Endpoints(), "/write/"))
			}
			p := servertest.Start(b, opts...)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: fmt.Sprintf("d%d.example.net", i)}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportLatency(b, "create", lat)
		})
	}
}
