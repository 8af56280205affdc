package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// The benchmarks use a real bbolt file on disk with fsync on every commit, as the proxy does.

func routeValue(b testing.TB, i int) []byte {
	r := api.NewStaticRoute()
	r.ID = fmt.Sprintf("%012x", i)
	r.DestinationPattern = fmt.Sprintf(".com.partner%d.*", i)
	r.NextHop = "edge.partner.example.net"
	v, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkPut: one writer at a time, each write its own fsync.
func BenchmarkPut(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := context.Background()
	v := routeValue(b, 0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Put(ctx, api.KindStaticRoute, fmt.Sprintf("%012x", i), v, store.Cond{}, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkPutParallel: concurrent writers share commits (bbolt batches them into one fsync).
func BenchmarkPutParallel(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := context.Background()
	v := routeValue(b, 0)
	b.SetParallelism(16)
	var n int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			key := fmt.Sprintf("%p-%d", pb, i)
			if _, err := s.Put(ctx, api.KindStaticRoute, key, v, store.Cond{}, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	_ = n
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func BenchmarkGet(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := context.Background()
	for i := range 1000 {
		if _, err := s.Put(ctx, api.KindStaticRoute, fmt.Sprintf("%012x", i), routeValue(b, i), store.Cond{}, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, api.KindStaticRoute, fmt.Sprintf("%012x", i%1000)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

func BenchmarkList10k(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := context.Background()
	const n = 10000
	for start := 0; start < n; start += 1000 {
		// Load in parallel batches to keep set-up time reasonable.
		errc := make(chan error, 1000)
		for i := start; i < start+1000; i++ {
			go func() {
				_, err := s.Put(ctx, api.KindStaticRoute, fmt.Sprintf("%012x", i), routeValue(b, i), store.Cond{}, "bench")
				errc <- err
			}()
		}
		for range 1000 {
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		objs, _, err := s.List(ctx, api.KindStaticRoute)
		if err != nil || len(objs) != n {
			b.Fatalf("listed %d, err %v", len(objs), err)
		}
	}
}

// BenchmarkCheck100k: the check Open runs on a store of 100,000 objects with their audit trail,
// a proxy's worst case at start. Report its time per check and the file's size.
func BenchmarkCheck100k(b *testing.B) {
	dir := b.TempDir()
	path := buildStore(b, dir, 100_000, 1000)
	b.ResetTimer()
	var rep *Report
	for b.Loop() {
		var err error
		if rep, err = Check(path, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rep.Size)/(1<<20), "MiB")
	b.ReportMetric(float64(rep.Objects+rep.Changes+rep.SideRecords), "records")
}

// BenchmarkOpen100k: Open as a proxy starts, the check included.
func BenchmarkOpen100k(b *testing.B) {
	dir := b.TempDir()
	buildStore(b, dir, 100_000, 1000)
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
}
