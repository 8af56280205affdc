package admin_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// End-to-end admin API numbers: HTTP, JSON, validation, an fsynced bbolt commit and the snapshot
// swap that a write waits for.

func BenchmarkAPICreateDomain(b *testing.B) {
	a := newTestAPI(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: fmt.Sprintf("p%d.example.net", i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func BenchmarkAPICreateDomainParallel(b *testing.B) {
	a := newTestAPI(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: fmt.Sprintf("p%d.example.net", n.Add(1))}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func BenchmarkAPIGetDomain(b *testing.B) {
	a := newTestAPI(b)
	ctx := context.Background()
	if _, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "a.example.net"}); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := a.client.GetFederatedDomain(ctx, "a.example.net"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

func BenchmarkAPIList10kRoutes(b *testing.B) {
	a := newTestAPI(b)
	ctx := context.Background()
	const n = 10000
	sem := make(chan struct{}, 32)
	errc := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			r := api.NewStaticRoute()
			r.DestinationPattern = fmt.Sprintf(".net.example.p%d.*", i)
			r.NextHop = "192.0.2.1"
			_, _, err := a.client.CreateStaticRoute(ctx, r)
			errc <- err
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		l, err := a.client.ListStaticRoutes(ctx)
		if err != nil || len(l.Items) != n {
			b.Fatalf("listed %d: %v", len(l.Items), err)
		}
	}
}
