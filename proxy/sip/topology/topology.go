// Package topology holds the secrets and encodings with which the proxy hides the enterprise's
// internal topology from partners and recognises its own Route entries, statelessly, as
// Kamailio's topoh module and the Lync Access Edge do: what a partner must echo back (Contact,
// Record-Route, Call-ID) goes out encrypted under a key only the deployment has, and comes
// back to be decoded. Every node of a cluster derives the same keys from one deployment key
// kept in the store, so any node decodes what another wrote, and restarts change nothing.
package topology

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"sync"
	"sync/atomic"
)

// KeySize is the size of a deployment key.
const KeySize = 32

// Codec encodes and decodes with one deployment's keys. It is safe for concurrent use.
type Codec struct {
	markerKey []byte
	sealer    cipher.AEAD
	callBlock cipher.Block
	callMAC   []byte
	macs      sync.Pool // hash.Hash of callMAC
	// markers are the markers of our own hosts (lower case), the names Marker was asked for,
	// which the configuration bounds: copied on write, read on every message without a lock.
	// A host IsOwn checks is not kept: partners name any host they like.
	markers   atomic.Pointer[map[string]marker]
	markersMu sync.Mutex
}

// ErrKey: the deployment key is not KeySize bytes.
var ErrKey = errors.New("topology: the deployment key must be 32 bytes")

// NewKey makes a new random deployment key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	_, err := rand.Read(k)
	return k, err
}

// New derives a codec's keys from a deployment key, one key per purpose.
func New(deploymentKey []byte) (*Codec, error) {
	if len(deploymentKey) != KeySize {
		return nil, ErrKey
	}
	derive := func(purpose string) []byte {
		m := hmac.New(sha256.New, deploymentKey)
		m.Write([]byte("sipfed/topology/" + purpose))
		return m.Sum(nil)
	}
	c := &Codec{markerKey: derive("route-marker"), callMAC: derive("call-id-mac")}
	blk, err := aes.NewCipher(derive("seal"))
	if err != nil {
		return nil, err
	}
	if c.sealer, err = cipher.NewGCM(blk); err != nil {
		return nil, err
	}
	if c.callBlock, err = aes.NewCipher(derive("call-id")); err != nil {
		return nil, err
	}
	c.macs.New = func() any { return hmac.New(sha256.New, c.callMAC) }
	return c, nil
}

// markerLen is the length of a marker: 72 bits, base64url.
const markerLen = 12

// Marker is the route marker of an own Route entry naming host: a partner can copy it, but not
// make one for a name of its own, and another deployment's markers never match ours.
//
// Call it for the proxy's own names only: what it is asked for is kept.
func (c *Codec) Marker(host string) string {
	var lb [256]byte
	if len(host) <= len(lb) {
		if m := c.markers.Load(); m != nil {
			if mk, ok := (*m)[string(lowerASCII(lb[:0], host))]; ok {
				return mk.s
			}
		}
	}
	return c.keep(string(lowerASCII(nil, host)))
}

// keep computes the marker of lower, a host in lower case, and keeps it.
func (c *Codec) keep(lower string) string {
	var mk marker
	c.appendMarker(mk.b[:0], []byte(lower))
	mk.s = string(mk.b[:])
	if len(lower) <= 255 {
		c.markersMu.Lock()
		old := c.markers.Load()
		if old == nil || len(*old) < maxMarkers {
			m := make(map[string]marker, 1+lenOf(old))
			if old != nil {
				for k, v := range *old {
					m[k] = v
				}
			}
			m[lower] = mk
			c.markers.Store(&m)
		}
		c.markersMu.Unlock()
	}
	return mk.s
}

// marker is a marker kept, as a string (Marker) and as bytes (IsOwn).
type marker struct {
	s string
	b [markerLen]byte
}

// maxMarkers bounds the markers kept, whatever asks: a proxy has a few names of its own.
const maxMarkers = 4096

func lenOf(m *map[string]marker) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// appendMarker appends the marker of host, which is in lower case.
func (c *Codec) appendMarker(dst, host []byte) []byte {
	m := hmac.New(sha256.New, c.markerKey)
	m.Write(host)
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.AppendEncode(dst, m.Sum(sum[:0])[:9])
}

// IsOwn reports whether marker is ours for host (case-insensitive host). A host of ours is
// found among the markers kept; any other is computed and forgotten.
func (c *Codec) IsOwn(host, marker []byte) bool {
	if len(marker) != markerLen {
		return false
	}
	var lb [256]byte
	lower := lb[:0]
	if len(host) <= len(lb) {
		lower = lowerASCII(lower, host)
	} else {
		lower = lowerASCII(nil, host)
	}
	if m := c.markers.Load(); m != nil {
		if mk, ok := (*m)[string(lower)]; ok {
			return subtle.ConstantTimeCompare(marker, mk.b[:]) == 1
		}
	}
	// Computed from a copy: the hash would move lower's array to the heap for every call.
	var want [markerLen]byte
	return subtle.ConstantTimeCompare(marker, c.appendMarker(want[:0], []byte(string(lower)))) == 1
}

// lowerASCII appends b in lower case (ASCII letters only) to dst.
func lowerASCII[T string | []byte](dst []byte, b T) []byte {
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	return dst
}

// Seal appends plaintext encrypted and authenticated, base64url: safe in a URI parameter.
func (c *Codec) Seal(dst, plaintext []byte) []byte {
	ns := c.sealer.NonceSize()
	buf := make([]byte, ns, ns+len(plaintext)+c.sealer.Overhead())
	_, _ = rand.Read(buf)
	buf = c.sealer.Seal(buf, buf[:ns], plaintext, nil)
	return base64.RawURLEncoding.AppendEncode(dst, buf)
}

// Open appends what Seal sealed; false for anything Seal did not make with this key.
func (c *Codec) Open(dst, sealed []byte) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.AppendDecode(nil, sealed)
	ns := c.sealer.NonceSize()
	if err != nil || len(raw) < ns+c.sealer.Overhead() {
		return dst, false
	}
	out, err := c.sealer.Open(dst, raw[:ns], raw[ns:], nil)
	if err != nil {
		return dst, false
	}
	return out, true
}

// callIDPrefix starts every masked Call-ID.
const callIDPrefix = "sf1."

// CrossCallID appends the Call-ID a message carries once it crosses between the internal and
// the external side, either way. A Call-ID this deployment masked is unmasked; any other is
// masked. Masking is deterministic (the same Call-ID always masks the same), so every message
// of a dialog agrees, and applying it twice gives the original back: a dialog started on
// either side keeps one Call-ID per side.
func (c *Codec) CrossCallID(dst, id []byte) []byte {
	if orig, ok := c.unmaskCallID(dst, id); ok {
		return orig
	}
	return c.maskCallID(dst, id)
}

func (c *Codec) tag(id []byte) []byte {
	var sum [sha256.Size]byte
	return c.appendTag(nil, id, &sum)
}

// appendTag appends the first block of id's MAC: the counter of its encryption. sum is the
// caller's: a buffer of appendTag's own would escape through hash.Hash.
func (c *Codec) appendTag(dst, id []byte, sum *[sha256.Size]byte) []byte {
	m := c.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(id)
	out := m.Sum(sum[:0])
	c.macs.Put(m)
	return append(dst, out[:aes.BlockSize]...)
}

// maskScratch is the working memory of one masking, pooled: cipher.NewCTR allocates about
// 500 bytes of state per call, and buffers on maskCallID's stack would escape through the
// block cipher's and the hash's interfaces. A Call-ID is masked on every request that crosses.
type maskScratch struct {
	sum     [sha256.Size]byte
	ctr, ks [aes.BlockSize]byte
	buf     [256]byte
}

var maskScratches = sync.Pool{New: func() any { return new(maskScratch) }}

// xorCTR sets dst to src XOR the AES-CTR key stream from iv: what cipher.NewCTR computes (the
// counter is iv as a big-endian 128-bit number, plus one per block), without its allocation.
func (c *Codec) xorCTR(s *maskScratch, dst, src, iv []byte) {
	copy(s.ctr[:], iv)
	for i := 0; i < len(src); i += aes.BlockSize {
		c.callBlock.Encrypt(s.ks[:], s.ctr[:])
		n := min(aes.BlockSize, len(src)-i)
		subtle.XORBytes(dst[i:i+n], src[i:i+n], s.ks[:n])
		for j := aes.BlockSize - 1; j >= 0; j-- {
			s.ctr[j]++
			if s.ctr[j] != 0 {
				break
			}
		}
	}
}

func (c *Codec) maskCallID(dst, id []byte) []byte {
	s := maskScratches.Get().(*maskScratch)
	defer maskScratches.Put(s)
	buf := s.buf[:0]
	if aes.BlockSize+len(id) > len(s.buf) {
		buf = make([]byte, 0, aes.BlockSize+len(id))
	}
	buf = c.appendTag(buf, id, &s.sum)
	buf = buf[:aes.BlockSize+len(id)]
	c.xorCTR(s, buf[aes.BlockSize:], id, buf[:aes.BlockSize])
	dst = append(dst, callIDPrefix...)
	return base64.RawURLEncoding.AppendEncode(dst, buf)
}

func (c *Codec) unmaskCallID(dst, id []byte) ([]byte, bool) {
	if len(id) <= len(callIDPrefix) || string(id[:len(callIDPrefix)]) != callIDPrefix {
		return dst, false
	}
	raw, err := base64.RawURLEncoding.AppendDecode(nil, id[len(callIDPrefix):])
	if err != nil || len(raw) <= aes.BlockSize {
		return dst, false
	}
	iv := raw[:aes.BlockSize]
	pt := make([]byte, len(raw)-aes.BlockSize)
	cipher.NewCTR(c.callBlock, iv).XORKeyStream(pt, raw[aes.BlockSize:])
	if subtle.ConstantTimeCompare(c.tag(pt), iv) != 1 {
		return dst, false
	}
	return append(dst, pt...), true
}

// cachedMarkers counts the markers kept (tests).
func (c *Codec) cachedMarkers() int { return lenOf(c.markers.Load()) }
