package bolt

import (
	"bytes"
	"fmt"
	"io"
)

// walker reads bbolt's page tree with plain file reads and checks what bbolt takes on trust:
// every page id is inside the file, names itself, has a valid type and is referenced once; every
// element lies inside its page; keys are in order, within the range their parent gives them; the
// freelist holds each free page once and no page in use. A page is read at most once, so a cycle
// cannot loop and the work is linear in the file's size. It also checks what bbolt's tx.Check
// does, so a file it passes is safe to hand to bbolt.
type walker struct {
	r        io.ReaderAt
	pageSize uint64
	hwm      uint64 // pages in use, from the meta page
	used     bitset // pages reached from the root, meta and freelist pages included
	free     bitset // pages on the freelist
	problems problems
	spare    [][]byte // one-page buffers of leaf pages done with, for the next pages
	// onPage, when set, sees every page reached: its id, its type and the bucket it belongs to.
	onPage func(id uint64, flags uint16, bucket string)
}

// Trees deeper than this are damage: a B+tree of bbolt's fan-out this deep would exceed any file.
const maxTreeDepth = 32

func newWalker(r io.ReaderAt, m meta) *walker {
	w := &walker{r: r, pageSize: uint64(m.pageSize), hwm: m.pgid, used: newBitset(m.pgid), free: newBitset(m.pgid)}
	w.used.set(0)
	w.used.set(1)
	return w
}

// page reads page id (with its overflow pages) and checks its header; want is the set of page
// types acceptable here. It returns nil after noting a problem.
func (w *walker) page(id uint64, want uint16, bucket string) []byte {
	if id < 2 || id >= w.hwm {
		w.problems.addf("page %d (in %s) is outside the store's %d pages", id, bucket, w.hwm)
		return nil
	}
	buf := w.buffer()
	if _, err := w.r.ReadAt(buf, int64(id*w.pageSize)); err != nil {
		w.problems.addf("page %d: %v", id, err)
		return nil
	}
	self, flags, overflow := native.Uint64(buf), native.Uint16(buf[8:]), uint64(native.Uint32(buf[12:]))
	switch {
	case self != id:
		w.problems.addf("page %d (in %s) names itself page %d", id, bucket, self)
		return nil
	case flags&want == 0 || flags&(flags-1) != 0:
		w.problems.addf("page %d (in %s) has type 0x%x, not one expected here", id, bucket, flags)
		return nil
	case overflow >= w.hwm-id:
		w.problems.addf("page %d (in %s) runs %d pages past the store's end", id, bucket, overflow)
		return nil
	}
	for p := id; p <= id+overflow; p++ {
		if w.used.has(p) {
			w.problems.addf("page %d (in %s) is referenced twice", p, bucket)
			return nil
		}
		w.used.set(p)
	}
	if overflow > 0 {
		buf = append(make([]byte, 0, (overflow+1)*w.pageSize), buf...)[:(overflow+1)*w.pageSize]
		if _, err := w.r.ReadAt(buf[w.pageSize:], int64((id+1)*w.pageSize)); err != nil {
			w.problems.addf("page %d: %v", id, err)
			return nil
		}
	}
	if w.onPage != nil {
		w.onPage(id, flags, bucket)
	}
	return buf
}

// buffer is a one-page buffer, recycled when one is spare: a check reads every page of the file
// once, and allocating each anew would make the garbage collector the check's main cost.
func (w *walker) buffer() []byte {
	if n := len(w.spare); n > 0 {
		b := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return b
	}
	return make([]byte, w.pageSize)
}

// release gives back a one-page buffer nothing refers to any more.
func (w *walker) release(b []byte) {
	if uint64(len(b)) == w.pageSize {
		w.spare = append(w.spare, b)
	}
}

// freelist records the free pages listed on page id.
func (w *walker) freelist(id uint64) {
	b := w.page(id, freelistPage, "the freelist")
	if b == nil {
		return
	}
	n, at := uint64(native.Uint16(b[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF { // the count overflowed into the first element
		n, at = native.Uint64(b[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(b))-at)/8 {
		w.problems.addf("freelist page %d lists %d pages, more than it holds", id, n)
		return
	}
	for i := range n {
		p := native.Uint64(b[at+8*i:])
		switch {
		case p < 2 || p >= w.hwm:
			w.problems.addf("the freelist holds page %d, outside the store's %d pages", p, w.hwm)
		case w.free.has(p):
			w.problems.addf("the freelist holds page %d twice", p)
		default:
			w.free.set(p)
		}
	}
}

// entry is one element of a leaf page.
type entry struct {
	key, value []byte
	bucket     bool
}

// tree walks the B+tree rooted at page id, depth first in key order, and hands every leaf entry
// to visit. Keys must lie in [lo, hi) (nil: unbounded). It returns the greatest key it saw.
func (w *walker) tree(id uint64, lo, hi []byte, depth int, bucket string, visit func(entry)) []byte {
	if depth > maxTreeDepth {
		w.problems.addf("page %d (in %s) lies deeper than %d levels", id, bucket, maxTreeDepth)
		return nil
	}
	b := w.page(id, branchPage|leafPage, bucket)
	if b == nil {
		return nil
	}
	if native.Uint16(b[8:]) == leafPage {
		// The greatest key outlives the page's buffer, which the next page reuses.
		max := bytes.Clone(w.leaf(id, b, lo, hi, bucket, visit))
		w.release(b)
		return max
	}
	keys, children, ok := w.branch(id, b, bucket)
	if !ok {
		return nil
	}
	prev := lo
	for i, k := range keys {
		if !w.inOrder(id, i, k, prev, hi, bucket) {
			return nil
		}
		if i > 0 && bytes.Equal(k, prev) {
			w.problems.addf("branch page %d (in %s): key %d (%s) repeats the subtree before it", id, bucket, i, printable(k))
			return nil
		}
		next := hi
		if i+1 < len(keys) {
			next = keys[i+1]
		}
		if max := w.tree(children[i], k, next, depth+1, bucket, visit); max != nil {
			prev = max
		} else {
			prev = k
		}
		if w.problems.full() {
			return nil
		}
	}
	return prev
}

// branch decodes a branch page: its keys and the pages they lead to.
func (w *walker) branch(id uint64, b []byte, bucket string) (keys [][]byte, children []uint64, ok bool) {
	n := uint64(native.Uint16(b[10:]))
	if n == 0 {
		w.problems.addf("branch page %d (in %s) is empty", id, bucket)
		return nil, nil, false
	}
	next := pageHeaderSize + n*elemSize // bbolt writes the keys right after the elements, in order
	if next > uint64(len(b)) {
		w.problems.addf("branch page %d (in %s): %d elements do not fit in the page", id, bucket, n)
		return nil, nil, false
	}
	for i := range n {
		e := pageHeaderSize + i*elemSize
		pos, ksize := uint64(native.Uint32(b[e:])), uint64(native.Uint32(b[e+4:]))
		if ksize == 0 || e+pos != next || next+ksize > uint64(len(b)) {
			w.problems.addf("branch page %d (in %s): key %d is not where the page layout puts it", id, bucket, i)
			return nil, nil, false
		}
		keys = append(keys, b[next:next+ksize])
		children = append(children, native.Uint64(b[e+8:]))
		next += ksize
	}
	return keys, children, w.sized(id, b, next, bucket)
}

// sized checks that a tree page spans as many pages as its contents need, as bbolt allocates
// them: an overflow count too large would claim pages that belong elsewhere.
func (w *walker) sized(id uint64, b []byte, end uint64, bucket string) bool {
	if id != 0 && uint64(len(b)) >= end+w.pageSize {
		w.problems.addf("page %d (in %s) spans %d pages for %d bytes", id, bucket, uint64(len(b))/w.pageSize, end)
		return false
	}
	return true
}

// leaf checks a leaf page (b may be a bucket's inline page, id 0) and then visits its entries:
// nothing on a page is looked into before the whole page is found sound. bbolt writes each key
// and value right after the previous ones, so a count or an offset that does not fit that layout
// is damage, even where it would still point inside the page.
func (w *walker) leaf(id uint64, b []byte, lo, hi []byte, bucket string, visit func(entry)) []byte {
	n := uint64(native.Uint16(b[10:]))
	next := pageHeaderSize + n*elemSize
	if next > uint64(len(b)) {
		w.problems.addf("leaf page %d (in %s): %d elements do not fit in the page", id, bucket, n)
		return nil
	}
	prev := lo
	for i := range n {
		e := leafElement(b, i)
		if e.flags&^bucketFlag != 0 {
			w.problems.addf("leaf page %d (in %s): element %d has unknown flags 0x%x", id, bucket, i, e.flags)
			return nil
		}
		if e.ksize == 0 || e.start != next || next+e.ksize+e.vsize > uint64(len(b)) {
			w.problems.addf("leaf page %d (in %s): entry %d is not where the page layout puts it", id, bucket, i)
			return nil
		}
		k := b[next : next+e.ksize]
		if !w.inOrder(id, int(i), k, prev, hi, bucket) {
			return nil
		}
		if i > 0 && bytes.Equal(k, prev) {
			w.problems.addf("leaf page %d (in %s): key %s appears twice", id, bucket, printable(k))
			return nil
		}
		prev = k
		next += e.ksize + e.vsize
	}
	if id == 0 && next != uint64(len(b)) {
		w.problems.addf("an inline page (in %s) holds %d bytes of %d", bucket, next, len(b))
		return nil
	}
	if !w.sized(id, b, next, bucket) {
		return nil
	}
	for i := range n {
		e := leafElement(b, i)
		k := b[e.start : e.start+e.ksize]
		visit(entry{key: k, value: b[e.start+e.ksize : e.start+e.ksize+e.vsize], bucket: e.flags&bucketFlag != 0})
	}
	if n == 0 {
		return nil
	}
	return prev
}

// leafElem is element i of a leaf page; start is where its key begins in the page.
type leafElem struct {
	flags               uint32
	start, ksize, vsize uint64
}

func leafElement(b []byte, i uint64) leafElem {
	e := pageHeaderSize + i*elemSize
	return leafElem{
		flags: native.Uint32(b[e:]), start: e + uint64(native.Uint32(b[e+4:])),
		ksize: uint64(native.Uint32(b[e+8:])), vsize: uint64(native.Uint32(b[e+12:])),
	}
}

// inOrder: key i of page id must be at least prev (greater for i > 0 on a leaf, as the caller
// checks equality) and below hi.
func (w *walker) inOrder(id uint64, i int, k, prev, hi []byte, bucket string) bool {
	if prev != nil && bytes.Compare(k, prev) < 0 || hi != nil && bytes.Compare(k, hi) >= 0 {
		w.problems.addf("page %d (in %s): key %d (%s) is out of order", id, bucket, i, printable(k))
		return false
	}
	return true
}

// bucketTree walks a bucket given its header value: a root page, or an inline page after the
// header. Only top-level buckets exist in this store, so an entry flagged as a bucket inside one
// is damage.
func (w *walker) bucketTree(name string, header []byte, visit func(k, v []byte)) {
	if len(header) < bucketHeader {
		w.problems.addf("bucket %s: header is %d bytes", name, len(header))
		return
	}
	values := func(e entry) {
		if e.bucket {
			w.problems.addf("bucket %s: entry %s is flagged as a nested bucket", name, printable(e.key))
			return
		}
		visit(e.key, e.value)
	}
	if root := native.Uint64(header); root != 0 {
		w.tree(root, nil, nil, 0, name, values)
		return
	}
	inline := header[bucketHeader:]
	if len(inline) < pageHeaderSize || native.Uint16(inline[8:]) != leafPage {
		w.problems.addf("bucket %s: inline page is not a leaf page", name)
		return
	}
	w.leaf(0, inline, nil, nil, name, values)
}

// unaccounted reports pages below the high water mark that are neither in use nor free, and
// pages that are both: bbolt would leak the first and hand out the second while in use.
func (w *walker) unaccounted(freelistKnown bool) {
	for p := uint64(2); p < w.hwm && !w.problems.full(); p++ {
		switch used, free := w.used.has(p), w.free.has(p); {
		case used && free:
			w.problems.addf("page %d is in use and on the freelist", p)
		case freelistKnown && !used && !free:
			w.problems.addf("page %d is neither in use nor free", p)
		}
	}
}

// problems collects what a check found, up to a bound: past it, the file is beyond repair anyway
// and the rest would only scroll the first ones away.
type problems []string

const maxProblems = 20

func (p *problems) addf(format string, args ...any) {
	if len(*p) < maxProblems {
		*p = append(*p, fmt.Sprintf(format, args...))
	}
}

func (p problems) full() bool { return len(p) >= maxProblems }

type bitset []uint64

func newBitset(n uint64) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i uint64)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }
