package routing

import (
	"hash/maphash"
	"maps"
)

// A table is a string-keyed map split into shards so that a snapshot can be updated by copying
// only the shards a change touches: one change at 100,000 entries copies about 400 of them, not
// all. Snapshots share untouched shards, which is safe because a published shard is never written.
const (
	shardBits  = 8
	shardCount = 1 << shardBits
)

type table[V any] struct {
	shards [shardCount]map[string]V
}

var shardSeed = maphash.MakeSeed()

func shardOf(key string) uint {
	return uint(maphash.String(shardSeed, key)) & (shardCount - 1)
}

func (t *table[V]) get(key string) (V, bool) {
	v, ok := t.shards[shardOf(key)][key]
	return v, ok
}

func (t *table[V]) len() int {
	n := 0
	for _, m := range t.shards {
		n += len(m)
	}
	return n
}

// tableWriter changes a copy of a table, cloning each shard the first time it writes to it.
type tableWriter[V any] struct {
	t     *table[V]
	owned [shardCount]bool
}

// reserve pre-sizes the shards of an empty table for n entries; Build uses it to skip rehashing.
func (w *tableWriter[V]) reserve(n int) {
	per := n/shardCount + n/(4*shardCount) + 1
	for i := range w.t.shards {
		if w.t.shards[i] == nil {
			w.t.shards[i] = make(map[string]V, per)
			w.owned[i] = true
		}
	}
}

func (w *tableWriter[V]) shard(key string) map[string]V {
	i := shardOf(key)
	if !w.owned[i] {
		m := maps.Clone(w.t.shards[i])
		if m == nil {
			m = make(map[string]V)
		}
		w.t.shards[i], w.owned[i] = m, true
	}
	return w.t.shards[i]
}

func (w *tableWriter[V]) set(key string, v V) { w.shard(key)[key] = v }

func (w *tableWriter[V]) del(key string) {
	if _, ok := w.t.get(key); ok {
		delete(w.shard(key), key)
	}
}
