package core

import (
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	mrand "math/rand/v2"
	"strconv"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
)

// The branch of every Via the core adds is z9hG4bK + "sf" + a per-process marker + "x" + the
// request's loop hash + "x" + random. The loop hash covers what a loop leaves unchanged (RFC
// 3261 16.3 step 4): a request that comes back with one of our branches and the same hash
// loops (482); one whose Request-URI changed on the way is a spiral and goes on.
func newBranchPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return message.BranchCookie + "sf" + hex.EncodeToString(b[:]) + "x"
}

const hexDigits = "0123456789abcdef"

func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(v>>(uint(i)*4))&0xf])
	}
	return b
}

// loopHash hashes the fields of m that a loop does not change. The Call-ID is left out: topology
// hiding rewrites it on the way out, and a request looping through a partner would come back
// under another.
func loopHash(m *message.Msg) uint32 {
	x := fnvOffset
	w := func(b []byte) {
		x = fnvAdd(x, b)
		x *= fnvPrime // a 0 byte between fields: x ^ 0 is x
	}
	w(m.Bytes(m.RURI.Whole))
	w(m.Bytes(m.From.Tag))
	w(m.Bytes(m.To.Tag))
	var n [10]byte
	w(strconv.AppendUint(n[:0], uint64(m.CSeqNum), 10))
	w(m.Bytes(m.CSeqMethod))
	return x
}

// FNV-1a, inline: hash/fnv allocates its state on every call.
const (
	fnvOffset = uint32(2166136261)
	fnvPrime  = uint32(16777619)
)

func fnvAdd(x uint32, b []byte) uint32 {
	for _, c := range b {
		x = (x ^ uint32(c)) * fnvPrime
	}
	return x
}

// laneOf picks the connection lane of a request (transport.Dial): every request of a call takes
// the same one.
func laneOf(m *message.Msg) uint32 {
	h, ok := m.First(message.CallID)
	if !ok {
		return 0
	}
	return fnvAdd(fnvOffset, m.Bytes(h.Value))
}

// appendBranch appends a new branch for a request with loop hash lh.
func (c *Core) appendBranch(dst []byte, lh uint32) []byte {
	dst = append(dst, c.branchPrefix...)
	dst = appendHex(dst, uint64(lh), 8)
	dst = append(dst, 'x')
	return appendHex(dst, mrand.Uint64(), 16)
}

// appendStatelessBranch appends the branch of a request forwarded without a transaction (an ACK
// of a 2xx): derived from the incoming branch, so a retransmission gets the same one (RFC 3261
// 16.11).
func (c *Core) appendStatelessBranch(dst []byte, m *message.Msg, lh uint32) []byte {
	dst = append(dst, c.branchPrefix...)
	dst = appendHex(dst, uint64(lh), 8)
	dst = append(dst, 's')
	var h maphash.Hash
	h.SetSeed(c.k.seed)
	_, _ = h.Write(m.Bytes(m.TopVia.Branch))
	_, _ = h.Write(m.Bytes(m.CallID))
	return appendHex(dst, h.Sum64(), 16)
}

// isLoop reports whether m passed this proxy already, unchanged.
func (c *Core) isLoop(m *message.Msg, lh uint32) bool {
	var want [8]byte
	appendHex(want[:0], uint64(lh), 8)
	found := false
	for _, h := range m.Headers {
		if h.ID != message.Via {
			continue
		}
		m.EachVia(h, func(v message.ViaHop) bool {
			b := m.Bytes(v.Branch)
			p := len(c.branchPrefix)
			if len(b) >= p+8 && string(b[:p]) == c.branchPrefix && string(b[p:p+8]) == string(want[:]) {
				found = true
				return false
			}
			return true
		})
		if found {
			return true
		}
	}
	return false
}

// ownBranch reports whether a branch is one the core wrote.
func (c *Core) ownBranch(b []byte) bool {
	return len(b) > len(c.branchPrefix) && string(b[:len(c.branchPrefix)]) == c.branchPrefix
}
