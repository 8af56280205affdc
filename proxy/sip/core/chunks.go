package core

import "sync"

// chunkSize is the unit the retransmission cache stores responses in: a few pages, so that a
// nearly idle proxy holds little, and above any UDP datagram.
const chunkSize = 16 << 10

// chunkPool hands out zero-length byte slices of capacity chunkSize, in memory the Go heap does
// not manage where the platform allows (see chunks_unix.go), and takes them back for reuse.
type chunkPool struct {
	mu   sync.Mutex
	free [][]byte
}

func newChunkPool() *chunkPool { return &chunkPool{} }

func (p *chunkPool) get() []byte {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return c[:0]
	}
	p.mu.Unlock()
	return allocChunks()
}

func (p *chunkPool) put(c []byte) {
	p.mu.Lock()
	p.free = append(p.free, c[:0])
	p.mu.Unlock()
}
