package routing

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	name string
	w    uint64
}

func itemWeight(i item) uint64 { return i.w }

func names(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.name
	}
	return out
}

// Each draw of RFC 2782's procedure, chosen by hand.
func TestRFC2782Draws(t *testing.T) {
	tests := []struct {
		name  string
		items []item // sorted: weight 0 first
		draws []uint64
		want  []string
	}{
		{"draw 0 picks the first", []item{{"a", 10}, {"b", 20}, {"c", 30}}, []uint64{0, 0}, []string{"a", "b", "c"}},
		// [0,60]: 35 > 30 (a+b) -> c; then [0,30]: 25 > 10 -> b.
		{"running sums", []item{{"a", 10}, {"b", 20}, {"c", 30}}, []uint64{35, 25}, []string{"c", "b", "a"}},
		// Draws are taken modulo sum+1: 61 is 0.
		{"draw wraps", []item{{"a", 10}, {"b", 20}, {"c", 30}}, []uint64{61, 0}, []string{"a", "b", "c"}},
		// Weight 0 is chosen only when the draw is 0 and it comes first.
		{"weight 0 on a zero draw", []item{{"z", 0}, {"a", 10}}, []uint64{0}, []string{"z", "a"}},
		{"weight 0 otherwise last", []item{{"z", 0}, {"a", 10}}, []uint64{1}, []string{"a", "z"}},
		// Two weight-0 items are shuffled first (draw 1 of [0,1] swaps them), then the RFC draw.
		{"weight 0 run shuffled", []item{{"z1", 0}, {"z2", 0}, {"a", 5}}, []uint64{0, 0, 0}, []string{"z2", "z1", "a"}},
		{"all weight 0 keeps the shuffle", []item{{"z1", 0}, {"z2", 0}}, []uint64{1, 7}, []string{"z1", "z2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items := slices.Clone(tc.items)
			rfc2782(items, itemWeight, sequence(tc.draws...))
			if got := names(items); !slices.Equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
		})
	}
}

// Over many orderings, the first pick follows the weights (RFC 2782: probability weight/sum), and
// the rest stays a permutation. A fixed seed keeps the test deterministic.
func TestRFC2782Distribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := []item{{"a", 10}, {"b", 20}, {"c", 70}}
	const runs = 20000
	first := map[string]int{}
	for range runs {
		items := slices.Clone(base)
		rfc2782(items, itemWeight, rng.Uint64)
		first[items[0].name]++
		got := names(items)
		slices.Sort(got)
		if !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("not a permutation: %v", names(items))
		}
	}
	for _, it := range base {
		want := float64(it.w) / 100
		got := float64(first[it.name]) / runs
		if math.Abs(got-want) > 0.02 {
			t.Errorf("%s first in %.3f of orderings, want %.2f", it.name, got, want)
		}
	}
}

func TestOrderByPriority(t *testing.T) {
	type pi struct {
		name string
		p    uint16
		w    uint64
	}
	items := []pi{{"p1a", 1, 1}, {"p1b", 1, 1}, {"p2a", 2, 5}, {"p3a", 3, 0}, {"p3b", 3, 9}}
	orderByPriority(items, func(i pi) uint16 { return i.p }, func(i pi) uint64 { return i.w }, sequence(2, 9))
	var got []string
	for _, it := range items {
		got = append(got, it.name)
	}
	// p1: draw 2 of [0,2] -> p1b; p3: draw 9 of [0,9] -> p3b.
	if want := []string{"p1b", "p1a", "p2a", "p3b", "p3a"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}
