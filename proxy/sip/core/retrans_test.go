package core

import (
	"bytes"
	"fmt"
	"testing"
)

func TestRetransCacheExpiry(t *testing.T) {
	c := newRetransCache()
	resp := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
	c.put(42, resp)
	// A retransmission within Timer J gets the response again; the sweeper runs once a
	// second, so the response stays for ringSlots-1 sweeps and is gone at the next.
	for s := 0; s < ringSlots-1; s++ {
		if got, ok := c.get(42); !ok || !bytes.Equal(got, resp) {
			t.Fatalf("after %d sweeps: get = %q, %v", s, got, ok)
		}
		c.sweep()
	}
	if _, ok := c.get(42); !ok {
		t.Fatalf("gone after %d sweeps, before Timer J", ringSlots-1)
	}
	c.sweep()
	if _, ok := c.get(42); ok {
		t.Fatalf("still there after %d sweeps: kept beyond Timer J", ringSlots)
	}
	if c.len() != 0 {
		t.Fatalf("len = %d after expiry", c.len())
	}
	if n := c.chunkBytes(); n != 0 {
		t.Fatalf("%d bytes of chunks held after everything expired", n)
	}
}

func TestRetransCacheSizes(t *testing.T) {
	tests := []struct {
		name string
		size int
		kept bool
	}{
		{"empty", 0, true},
		{"small", 300, true},
		{"a whole chunk", chunkSize, true},
		// UDP cannot carry it: keeping it would only waste a chunk.
		{"over a chunk", chunkSize + 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newRetransCache()
			b := bytes.Repeat([]byte{'r'}, tc.size)
			c.put(1, b)
			got, ok := c.get(1)
			if ok != tc.kept {
				t.Fatalf("kept = %v, want %v", ok, tc.kept)
			}
			if ok && !bytes.Equal(got, b) {
				t.Fatalf("got %d bytes back, want %d", len(got), len(b))
			}
		})
	}
}

// Responses share chunks and chunks are reused once a second expires: a response read back must
// be exactly the one put under its key, across chunk boundaries, shards and reuse.
func TestRetransCacheManyResponses(t *testing.T) {
	c := newRetransCache()
	resp := func(round, k int) []byte {
		return []byte(fmt.Sprintf("SIP/2.0 200 OK\r\nX-Round: %d\r\nX-Key: %d\r\n%s\r\n\r\n", round, k, bytes.Repeat([]byte{'p'}, k%700)))
	}
	const n = 2000 // about 700 KB: several chunks per shard
	for round := 0; round < 3; round++ {
		for k := 0; k < n; k++ {
			c.put(uint64(round*n+k), resp(round, k))
		}
		for k := 0; k < n; k++ {
			got, ok := c.get(uint64(round*n + k))
			if !ok || !bytes.Equal(got, resp(round, k)) {
				t.Fatalf("round %d key %d: got %q, %v", round, k, got, ok)
			}
		}
		if c.len() != n {
			t.Fatalf("round %d: len = %d, want %d", round, c.len(), n)
		}
		// Expire this round: the next one reuses its chunks.
		for s := 0; s < ringSlots; s++ {
			c.sweep()
		}
		if c.len() != 0 {
			t.Fatalf("round %d: %d left after expiry", round, c.len())
		}
	}
}

// get returns a copy: the bytes must survive their chunk's reuse by later responses.
func TestRetransCacheGetCopies(t *testing.T) {
	c := newRetransCache()
	c.put(1, []byte("first"))
	got, _ := c.get(1)
	for s := 0; s < ringSlots; s++ {
		c.sweep()
	}
	for k := uint64(2); k < 100; k++ {
		c.put(k, []byte("XXXXX"))
	}
	if string(got) != "first" {
		t.Fatalf("a response read earlier changed to %q when its chunk was reused", got)
	}
}
