package transport

import "net/netip"

// Batch collects the UDP datagrams a reading goroutine sends while it handles what one read
// returned, and sends them with one sendmmsg per socket when it is done: under load the cost of
// a send system call is shared by many messages, as recvmmsg shares the cost of a read. Idle, a
// batch holds one datagram and costs what a plain send does. A Batch belongs to one goroutine.
type Batch struct {
	arena   []byte
	entries []batchEntry
	rest    []batchEntry
	io      *mmsg
}

type batchEntry struct {
	sock     *UDPSocket
	to       netip.AddrPort
	off, len int
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{arena: make([]byte, 0, 64<<10), io: newMmsg(udpBatch)} }

// Send queues b (copied) for to, from sock.
func (bt *Batch) Send(sock *UDPSocket, b []byte, to netip.AddrPort) {
	off := len(bt.arena)
	bt.arena = append(bt.arena, b...)
	bt.entries = append(bt.entries, batchEntry{sock: sock, to: to, off: off, len: len(b)})
}

// Len is the number of datagrams queued.
func (bt *Batch) Len() int { return len(bt.entries) }

// Flush sends what is queued, one sendmmsg per socket (and per udpBatch datagrams), and
// empties the batch.
func (bt *Batch) Flush() {
	for len(bt.entries) > 0 {
		// The first entry's socket: its datagrams to the front, the others kept for the
		// next round, in order.
		sock := bt.entries[0].sock
		mine := bt.entries[:0]
		bt.rest = bt.rest[:0]
		for _, e := range bt.entries {
			if e.sock == sock {
				mine = append(mine, e)
			} else {
				bt.rest = append(bt.rest, e)
			}
		}
		for len(mine) > 0 {
			n, err := bt.io.write(sock, mine, bt.arena)
			if err != nil || n <= 0 {
				// One bad destination (an ICMP error reported here) must not cost the
				// others: it is dropped, as a lost datagram would be.
				n = 1
			}
			mine = mine[n:]
		}
		bt.entries = append(bt.entries[:0], bt.rest...)
	}
	if cap(bt.arena) > 1<<20 {
		bt.arena = make([]byte, 0, 64<<10)
	} else {
		bt.arena = bt.arena[:0]
	}
}
