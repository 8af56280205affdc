package core

import (
	"sync"
	"testing"
)

type entry struct{ id int }

func TestTable(t *testing.T) {
	tb := newTable[*entry]()
	a, b := &entry{1}, &entry{2}
	// Keys that fall in one shard and keys that do not: k and k+shards share a shard.
	const k1, k2, k3 = 7, 7 + shards, 8

	if v, fresh := tb.putNew(k1, a); !fresh || v != a {
		t.Fatalf("putNew on an empty table = %v, %v", v, fresh)
	}
	// A copy of the request racing the first must find the first's transaction, not replace it.
	if v, fresh := tb.putNew(k1, b); fresh || v != a {
		t.Fatalf("putNew on a taken key = %v, %v; want the first value, not fresh", v, fresh)
	}
	if _, fresh := tb.putNew(k2, b); !fresh {
		t.Fatal("a key of the same shard counted as taken")
	}
	if v, ok := tb.get(k1); !ok || v != a {
		t.Fatalf("get(k1) = %v, %v", v, ok)
	}
	if v, ok := tb.get(k2); !ok || v != b {
		t.Fatalf("get(k2) = %v, %v", v, ok)
	}
	if _, ok := tb.get(k3); ok {
		t.Fatal("get of an absent key found something")
	}
	if n := tb.len(); n != 2 {
		t.Fatalf("len = %d, want 2", n)
	}

	// A transaction that ends late must not remove the one that took its key meanwhile.
	tb.del(k1, b)
	if v, ok := tb.get(k1); !ok || v != a {
		t.Fatalf("del with another value removed the entry: %v, %v", v, ok)
	}
	tb.del(k1, a)
	if _, ok := tb.get(k1); ok {
		t.Fatal("del with the value left the entry")
	}
	if v, ok := tb.get(k2); !ok || v != b {
		t.Fatal("del of one key removed its shard neighbour")
	}
	if _, fresh := tb.putNew(k1, b); !fresh {
		t.Fatal("a key freed by del is still taken")
	}

	seen := map[*entry]int{}
	tb.each(func(e *entry) { seen[e]++ })
	if len(seen) != 1 || seen[b] != 2 {
		t.Fatalf("each visited %v, want b twice", seen)
	}
}

// Goroutines of different connections use the table at once: every key they add is found, and
// removed, by its own goroutine, whatever shard it falls in.
func TestTableConcurrent(t *testing.T) {
	tb := newTable[*entry]()
	const workers, per = 8, 500
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			es := make([]*entry, per)
			for i := range es {
				es[i] = &entry{w*per + i}
				if _, fresh := tb.putNew(uint64(w*per+i), es[i]); !fresh {
					errs <- "putNew: key taken"
					return
				}
			}
			for i, e := range es {
				if v, ok := tb.get(uint64(w*per + i)); !ok || v != e {
					errs <- "get: lost an entry"
					return
				}
				tb.del(uint64(w*per+i), e)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := tb.len(); n != 0 {
		t.Fatalf("len = %d after every entry was removed", n)
	}
}
