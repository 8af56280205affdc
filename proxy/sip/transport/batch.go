package transport

import "net/netip"

// Batch collects what a reading goroutine sends while it handles what one read returned, and
// sends it when it is done: UDP datagrams with one sendmmsg per socket, and on each stream all
// of it in one write (see Conn.Send). Under load the cost of a send system call is shared by
// many messages, as recvmmsg shares the cost of a read. Idle, a batch holds one message and
// costs what a plain send does. A Batch belongs to one goroutine; its buffers are made on first
// use, as most stream readers never send a datagram.
type Batch struct {
	arena   []byte
	entries []batchEntry
	rest    []batchEntry
	io      *mmsg
	conns   []*Conn // connections whose writer waits for Flush
}

type batchEntry struct {
	sock     *UDPSocket
	to       netip.AddrPort
	off, len int
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{} }

// Send queues b (copied) for to, from sock.
func (bt *Batch) Send(sock *UDPSocket, b []byte, to netip.AddrPort) {
	if bt.arena == nil {
		bt.arena = make([]byte, 0, 64<<10)
		bt.io = newMmsg(udpBatch)
	}
	off := len(bt.arena)
	bt.arena = append(bt.arena, b...)
	bt.entries = append(bt.entries, batchEntry{sock: sock, to: to, off: off, len: len(b)})
}

// Len is the number of datagrams queued.
func (bt *Batch) Len() int { return len(bt.entries) }

// Flush sends what is queued, one sendmmsg per socket (and per udpBatch datagrams), then
// starts the writers of the connections it held back, and empties the batch.
//
// Datagrams go first. What a connection was sent is in its queue already, in order, so a
// later message on it cannot overtake it; a datagram is only ordered when it leaves. Were the
// writers started first, a request forwarded on a stream could be answered, and the answer
// relayed by another goroutine, before this one sent its datagrams: a caller over UDP got the
// 487 of its INVITE before the 200 of its CANCEL (two sites under load).
func (bt *Batch) Flush() {
	bt.sendDatagrams()
	for i, c := range bt.conns {
		c.release()
		bt.conns[i] = nil
	}
	bt.conns = bt.conns[:0]
}

func (bt *Batch) sendDatagrams() {
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
	if bt.arena == nil {
		return
	}
	if cap(bt.arena) > 1<<20 {
		bt.arena = make([]byte, 0, 64<<10)
	} else {
		bt.arena = bt.arena[:0]
	}
}
