package relay

import (
	"bytes"
	"context"
	"hash/maphash"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// RFC 3261 17.2.2 keeps a non-INVITE server transaction over UDP for Timer J (64*T1 = 32 s)
// after its final response, only to answer retransmissions of the request with that response
// again. sipgo keeps the whole transaction for it: the parsed request, the response and its
// header objects, timers, about 4.5 KiB. At 14,000 requests/s that is 450,000 transactions and
// 2 GiB. So the relay ends such a transaction as soon as the final response is out and keeps
// only the response's bytes here, under a keyed hash of what identifies the transaction (branch,
// sent-by, method).
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
	seed   maphash.Seed
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
	c := &retransCache{seed: maphash.MakeSeed(), chunks: newChunkPool()}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]uint64)
	}
	return c
}

// key identifies req's server transaction (RFC 3261 17.2.3); ok is false for requests without
// an RFC 3261 branch, which the cache leaves to sipgo.
func (c *retransCache) key(req *sip.Request) (uint64, bool) {
	via := req.Via()
	cseq := req.CSeq()
	if via == nil || cseq == nil {
		return 0, false
	}
	branch, _ := via.Params.Get("branch")
	if !strings.HasPrefix(branch, sip.RFC3261BranchMagicCookie) || len(branch) == len(sip.RFC3261BranchMagicCookie) {
		return 0, false
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	_, _ = h.WriteString(branch)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(via.Host)
	_ = h.WriteByte(0)
	var port [8]byte
	_, _ = h.Write(strconv.AppendInt(port[:0], int64(via.Port), 10))
	_ = h.WriteByte(0)
	_, _ = h.WriteString(string(cseq.MethodName))
	return h.Sum64(), true
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

// heldByCache reports whether req's final response goes through the cache: non-INVITE
// requests over UDP. INVITE transactions stay with sipgo, which also matches their ACKs.
func heldByCache(req *sip.Request) bool {
	return req.Transport() == "UDP" && !req.IsInvite() && !req.IsAck()
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// final sends a final response upstream. Over UDP (non-INVITE) it writes the bytes itself,
// keeps them for retransmissions and ends the transaction; elsewhere the server transaction
// sends it.
func (r *Relay) final(stx *sip.ServerTx, req *sip.Request, res *sip.Response) error {
	if !heldByCache(req) {
		return stx.Respond(res)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	res.StringWrite(buf)
	b := buf.Bytes()
	if k, ok := r.retrans.key(req); ok {
		r.retrans.put(k, b)
	}
	// The transaction goes before the response: a retransmission the response provokes must
	// find the cache, not a transaction in Trying that would swallow it.
	stx.Terminate()
	return r.writeUDP(stx, req, b)
}

// answerRetransmission answers req from the cache if it retransmits a request already answered.
func (r *Relay) answerRetransmission(stx *sip.ServerTx, req *sip.Request) bool {
	if !heldByCache(req) {
		return false
	}
	k, ok := r.retrans.key(req)
	if !ok {
		return false
	}
	b, ok := r.retrans.get(k)
	if !ok {
		return false
	}
	stx.Terminate()
	_ = r.writeUDP(stx, req, b)
	return true
}

// writeUDP sends b to where req came from, from the socket it came on (RFC 3581 symmetric
// response: the source address, which a UAC behind NAT can be reached at).
func (r *Relay) writeUDP(stx *sip.ServerTx, req *sip.Request, b []byte) error {
	uc, ok := stx.Connection().(*sip.UDPConnection)
	if !ok {
		return net.ErrClosed
	}
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return err
	}
	_, err = uc.PacketConn.WriteTo(b, net.UDPAddrFromAddrPort(ap))
	return err
}
