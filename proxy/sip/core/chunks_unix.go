//go:build unix

package core

import (
	"sync"
	"syscall"
)

// chunksPerMap chunks are mapped at once: one mmap per 1 MiB, not per 16 KiB.
const chunksPerMap = 64

var (
	mapMu   sync.Mutex
	mapped  [][]byte
	mapFail bool
)

// allocChunks returns a chunk of memory mapped outside the Go heap: the GC neither scans it nor
// counts it toward GOGC's growth, which for the retransmission cache would double its RSS.
// Chunks are reused, never unmapped. Without mmap it falls back to the heap.
func allocChunks() []byte {
	mapMu.Lock()
	defer mapMu.Unlock()
	if n := len(mapped); n > 0 {
		c := mapped[n-1]
		mapped = mapped[:n-1]
		return c
	}
	if !mapFail {
		m, err := syscall.Mmap(-1, 0, chunkSize*chunksPerMap, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err == nil {
			for i := 1; i < chunksPerMap; i++ {
				mapped = append(mapped, m[i*chunkSize:i*chunkSize:(i+1)*chunkSize])
			}
			return m[0:0:chunkSize]
		}
		mapFail = true
	}
	return make([]byte, 0, chunkSize)
}
