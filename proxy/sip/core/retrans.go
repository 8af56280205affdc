package core

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// RFC 3261 17.2.2 keeps a non-INVITE server transaction over UDP for Timer J (64*T1 = 32 s)
// after its final response, only to answer retransmissions of the request with that response
// again. Keeping the whole transaction for it (the request, the response, a timer) would hold
// about 2 KiB per request: at 20,000 requests/s, 640,000 transactions and 1.3 GiB. So the core
// ends such a transaction as soon as the final response is out and keeps only the response's
// bytes here, under the transaction's key (a keyed hash of branch, sent-by and method).
//
// The bytes go into chunks outside the Go heap (see chunks.go), one set of chunks per second of
// Timer J, dropped whole when that second expires; the map holds their location. Neither the GC
// scans them nor does GOGC double them: a held response costs its length plus about 30 bytes.
const (
	timerJ        = 32 * time.Second
	retransShards = 16
	ringSlots     = int(timerJ/time.Second) + 1
)

// A location packs slot (6 bits), chunk within the slot (22), offset (18) and length (18).
const (
	locLenBits   = 18
	locOffBits   = 18
	locChunkBits = 22
)

type retransCache struct {
	shards [retransShards]retransShard
	chunks *chunkPool
}

type retransShard struct {
	mu sync.Mutex
	m  map[uint64]uint64 // key -> location
	// slots hold what was put in each second; the sweeper empties the oldest.
	slots [ringSlots]retransSlot
	cur   int
}

type retransSlot struct {
	keys   []uint64
	chunks [][]byte // the last one is being filled
}

func newRetransCache() *retransCache {
	c := &retransCache{chunks: newChunkPool()}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]uint64)
	}
	return c
}

func (c *retransCache) shard(k uint64) *retransShard { return &c.shards[k%retransShards] }

// put keeps a copy of b under k. Responses larger than a chunk, which UDP cannot carry anyway,
// are not kept.
func (c *retransCache) put(k uint64, b []byte) {
	if len(b) > chunkSize {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := &s.slots[s.cur]
	n := len(sl.chunks)
	if n == 0 || cap(sl.chunks[n-1])-len(sl.chunks[n-1]) < len(b) {
		if n >= 1<<locChunkBits {
			return
		}
		sl.chunks = append(sl.chunks, c.chunks.get())
		n++
	}
	ch := sl.chunks[n-1]
	off := len(ch)
	sl.chunks[n-1] = append(ch, b...)
	if _, dup := s.m[k]; !dup {
		sl.keys = append(sl.keys, k)
	}
	s.m[k] = uint64(s.cur)<<(locChunkBits+locOffBits+locLenBits) | uint64(n-1)<<(locOffBits+locLenBits) |
		uint64(off)<<locLenBits | uint64(len(b))
}

// get returns a copy of what put kept under k: the chunk may be reused once the lock is gone.
func (c *retransCache) get(k uint64) ([]byte, bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	loc, ok := s.m[k]
	if !ok {
		return nil, false
	}
	length := loc & (1<<locLenBits - 1)
	off := loc >> locLenBits & (1<<locOffBits - 1)
	chunk := loc >> (locOffBits + locLenBits) & (1<<locChunkBits - 1)
	slot := loc >> (locChunkBits + locOffBits + locLenBits)
	return bytes.Clone(s.slots[slot].chunks[chunk][off : off+length]), true
}

func (c *retransCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// chunkBytes is the memory the cache's chunks in use take.
func (c *retransCache) chunkBytes() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for j := range s.slots {
			n += len(s.slots[j].chunks) * chunkSize
		}
		s.mu.Unlock()
	}
	return n
}

// sweep advances every shard by one second, forgetting what was put Timer J ago.
func (c *retransCache) sweep() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.cur = (s.cur + 1) % ringSlots
		sl := &s.slots[s.cur]
		for _, k := range sl.keys {
			delete(s.m, k)
		}
		for _, ch := range sl.chunks {
			c.chunks.put(ch)
		}
		// Keep a little capacity, not the peak's: load comes in bursts.
		if cap(sl.keys) > 4096 {
			sl.keys = nil
		} else {
			sl.keys = sl.keys[:0]
		}
		sl.chunks = sl.chunks[:0]
		s.mu.Unlock()
	}
}

func (c *retransCache) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.sweep()
		}
	}
}
