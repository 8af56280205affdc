package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk format, version 2 (go.etcd.io/bbolt/internal/common). The package reads it with
// plain file reads before bbolt maps the file: bbolt trusts every page id and offset it finds,
// and a garbage one makes it fault (SIGSEGV, SIGBUS), which no recover catches.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elemSize       = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize       = 64 // magic, version, page size, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	bucketHeader   = 16 // root pgid u64, sequence u64
	noFreelist     = ^uint64(0)

	branchPage   = 0x01
	leafPage     = 0x02
	metaPage     = 0x04
	freelistPage = 0x10
	bucketFlag   = 0x01

	minPageSize = 512
	maxPageSize = 1 << 20
)

// bbolt writes its structures in the machine's byte order.
var native = binary.NativeEndian

// meta is one of bbolt's two meta pages.
type meta struct {
	page     int // 0 or 1
	magic    uint32
	version  uint32
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high water mark: pages in use
	txid     uint64
	sumOK    bool
}

func parseMeta(page int, b []byte) meta {
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	_, _ = h.Write(m[:56])
	return meta{
		page: page, magic: native.Uint32(m[0:]), version: native.Uint32(m[4:]), pageSize: native.Uint32(m[8:]),
		root: native.Uint64(m[16:]), freelist: native.Uint64(m[32:]), pgid: native.Uint64(m[40:]),
		txid: native.Uint64(m[48:]), sumOK: native.Uint64(m[56:]) == h.Sum64(),
	}
}

// problem says what is wrong with a meta page; "" when it is sound.
func (m meta) problem() string {
	switch {
	case m.magic != boltMagic:
		return fmt.Sprintf("meta page %d does not carry bbolt's magic number", m.page)
	case m.version != boltVersion:
		return fmt.Sprintf("meta page %d is bbolt file format %d; this binary reads format %d", m.page, m.version, boltVersion)
	case !m.sumOK:
		return fmt.Sprintf("meta page %d is damaged (checksum mismatch)", m.page)
	case m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0:
		return fmt.Sprintf("meta page %d gives an impossible page size %d", m.page, m.pageSize)
	case m.pgid < 3 || m.root < 2 || m.root >= m.pgid:
		return fmt.Sprintf("meta page %d points outside the store (root page %d, %d pages)", m.page, m.root, m.pgid)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return fmt.Sprintf("meta page %d points outside the store (freelist page %d, %d pages)", m.page, m.freelist, m.pgid)
	}
	return ""
}

// readMetas reads both meta pages and returns the one bbolt would use. Both must be sound: bbolt
// would silently fall back to the other one, losing the last commit, and a torn write cannot
// explain a bad one (the 64 bytes sit in one disk sector, which is written whole).
func readMetas(f io.ReaderAt, size int64) (meta, error) {
	if size < 2*minPageSize {
		return meta{}, fmt.Errorf("is %d bytes long, too short to hold a store", size)
	}
	first := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(first, 0); err != nil {
		return meta{}, err
	}
	m0 := parseMeta(0, first)
	// Meta page 1 sits one page in; without a sound meta page 0, bbolt assumes the OS page size.
	pageSize := int64(os.Getpagesize())
	if m0.problem() == "" {
		pageSize = int64(m0.pageSize)
	}
	if 2*pageSize > size {
		return meta{}, fmt.Errorf("is %d bytes long, shorter than its two meta pages of %d bytes", size, pageSize)
	}
	second := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(second, pageSize); err != nil {
		return meta{}, err
	}
	m1 := parseMeta(1, second)
	if m0.magic != boltMagic && m1.magic != boltMagic {
		if zeros, err := startsWithZeros(f, size, 2*pageSize); err == nil && zeros {
			return meta{}, fmt.Errorf("is all zeros where its meta pages belong: it is not a store (a file preallocated or wiped, not written)")
		}
		return meta{}, fmt.Errorf("is not a bbolt store: neither meta page carries bbolt's magic number")
	}
	for _, m := range []meta{m0, m1} {
		if p := m.problem(); p != "" {
			return meta{}, fmt.Errorf("%s", p)
		}
	}
	if m0.pageSize != m1.pageSize {
		return meta{}, fmt.Errorf("meta pages disagree on the page size (%d and %d)", m0.pageSize, m1.pageSize)
	}
	m := m0
	if m1.txid > m0.txid {
		m = m1
	}
	if need := int64(m.pgid) * int64(m.pageSize); m.pgid > uint64(size)/uint64(m.pageSize) || need > size {
		return meta{}, fmt.Errorf("is truncated: %d bytes, but its meta page %d (transaction %d) says %d pages of %d bytes (%d bytes)",
			size, m.page, m.txid, m.pgid, m.pageSize, int64(m.pgid)*int64(m.pageSize))
	}
	return m, nil
}

func startsWithZeros(f io.ReaderAt, size, n int64) (bool, error) {
	n = min(n, size)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		return false, err
	}
	return bytes.Count(b, []byte{0}) == len(b), nil
}
