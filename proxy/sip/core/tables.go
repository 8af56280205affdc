package core

import (
	"hash/maphash"
	"sync"
)

// shards spread the transaction tables over locks so that goroutines of different connections
// rarely wait for each other: no lock on the hot path serialises the cores.
const shards = 64

type shard[T comparable] struct {
	mu sync.Mutex
	m  map[uint64]T
	_  [40]byte // keeps neighbouring shards off one cache line
}

type table[T comparable] struct {
	s [shards]shard[T]
}

func newTable[T comparable]() *table[T] {
	t := &table[T]{}
	for i := range t.s {
		t.s[i].m = make(map[uint64]T)
	}
	return t
}

func (t *table[T]) get(k uint64) (T, bool) {
	s := &t.s[k%shards]
	s.mu.Lock()
	v, ok := s.m[k]
	s.mu.Unlock()
	return v, ok
}

// putNew stores v under k unless k is taken; it returns the value under k and whether it is v.
func (t *table[T]) putNew(k uint64, v T) (T, bool) {
	s := &t.s[k%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[k]; ok {
		return old, false
	}
	s.m[k] = v
	return v, true
}

// del removes k if it still holds v.
func (t *table[T]) del(k uint64, v T) {
	s := &t.s[k%shards]
	s.mu.Lock()
	if s.m[k] == v {
		delete(s.m, k)
	}
	s.mu.Unlock()
}

func (t *table[T]) len() int {
	n := 0
	for i := range t.s {
		s := &t.s[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// each calls fn for every value; fn must not touch the table.
func (t *table[T]) each(fn func(T)) {
	for i := range t.s {
		s := &t.s[i]
		s.mu.Lock()
		vs := make([]T, 0, len(s.m))
		for _, v := range s.m {
			vs = append(vs, v)
		}
		s.mu.Unlock()
		for _, v := range vs {
			fn(v)
		}
	}
}

// keys hashes what identifies a transaction.
type keys struct{ seed maphash.Seed }

func newKeys() keys { return keys{seed: maphash.MakeSeed()} }

// method classes of a server transaction key: an ACK and a CANCEL look up the INVITE they
// belong to, by their own class.
const (
	classInvite = 'I'
	classCancel = 'C'
	classOther  = 'O'
)

// hasher is a maphash.Hash seeded by keys, with the writes the keys need.
type hasher struct{ h maphash.Hash }

func (k keys) hasher() hasher {
	var h hasher
	h.h.SetSeed(k.seed)
	return h
}

func (h *hasher) Write(b []byte) {
	_, _ = h.h.Write(b)
	_ = h.h.WriteByte(0)
}

func (h *hasher) Byte(b byte) { _ = h.h.WriteByte(b) }

func (h *hasher) Sum() uint64 { return h.h.Sum64() }
