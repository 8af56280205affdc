package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Report is what a check of a store file found.
type Report struct {
	Path     string
	Size     int64
	PageSize int
	Pages    uint64 // the high water mark
	TxID     uint64 // bbolt's transaction id: changes with every commit
	// Format is the store format: 0 for a store from before record checksums, which Open
	// migrates; storeFormat for a current one.
	Format      int
	Fresh       bool // no bucket yet: bbolt initialised the file, the store never did
	Revision    uint64
	Objects     int
	Changes     int
	SideRecords int
	Took        time.Duration
	Problems    []string
	newer       bool // a record of a newer format was among the problems
}

// CheckError is a store file that fails its check.
type CheckError struct {
	Path     string
	Problems []string
	// Err is ErrDamaged or ErrNewerFormat.
	Err error
	// Advice is what to do about it, for a person at 3 a.m.
	Advice string
}

func (e *CheckError) Error() string {
	verb := "is damaged"
	if errors.Is(e.Err, ErrNewerFormat) {
		verb = "was written by a newer sipfed-proxy"
	}
	msg := fmt.Sprintf("store %s %s: %s", e.Path, verb, e.Problems[0])
	switch n := len(e.Problems) - 1; {
	case n == 1:
		msg += " (and 1 more problem)"
	case n > 1:
		msg += fmt.Sprintf(" (and %d more problems)", n)
	}
	if e.Advice != "" {
		msg += "; " + e.Advice
	}
	return msg
}

func (e *CheckError) Unwrap() error { return e.Err }

// ErrLocked: another process (a running proxy) holds the store file.
var ErrLocked = errors.New("store file is locked by another process")

// Check verifies the store file at path completely without bbolt mapping it: the meta pages, the
// file's length against them, every page of the tree, and every record's envelope and checksum.
// It takes a shared lock on the file for its duration and fails with ErrLocked when a proxy holds
// it, waiting up to wait for the lock first. A damaged file gives a *CheckError; the Report is
// returned whenever the file could be read.
func Check(path string, wait time.Duration) (*Report, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	unlock, err := lockShared(f, wait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	rep := &Report{Path: path, Size: fi.Size()}
	err = checkFile(f, rep)
	rep.Took = time.Since(start)
	if err != nil {
		return rep, err
	}
	if len(rep.Problems) > 0 {
		cause := ErrDamaged
		if rep.newer {
			cause = ErrNewerFormat
		}
		return rep, &CheckError{Path: path, Problems: rep.Problems, Err: cause}
	}
	return rep, nil
}

func checkFile(f *os.File, rep *Report) (err error) {
	// The check reads the file with bounds-checked slices and never maps it, so a bad file gives
	// problems, not faults. A bug of ours in that code must not crash a proxy at start either.
	defer func() {
		if r := recover(); r != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("the check failed on unexpected data: %v", r))
			err = nil
		}
	}()
	if rep.Size == 0 {
		rep.Problems = append(rep.Problems, "is empty (0 bytes): the store it held is gone")
		return nil
	}
	m, err := readMetas(f, rep.Size)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			return err
		}
		rep.Problems = append(rep.Problems, err.Error())
		return nil
	}
	rep.PageSize, rep.Pages, rep.TxID = int(m.pageSize), m.pgid, m.txid
	w := newWalker(f, m)
	if m.freelist != noFreelist {
		w.freelist(m.freelist)
	}
	c := &contents{w: w, rep: rep}
	if err := c.check(m.root); err != nil {
		return err
	}
	if !w.problems.full() {
		w.unaccounted(m.freelist != noFreelist)
	}
	rep.Problems = append(rep.Problems, w.problems...)
	return nil
}

// contents checks what the store keeps in the tree: the buckets, the format, every record.
type contents struct {
	w      *walker
	rep    *Report
	maxMod uint64 // the highest ModRevision of an object
	maxRev uint64 // the highest revision in the audit trail
}

func (c *contents) check(root uint64) error {
	buckets := c.rootBuckets(root)
	if c.w.problems.full() {
		return nil
	}
	if len(buckets) == 0 {
		c.rep.Fresh = true
		return nil
	}
	metaHeader, ok := buckets[string(bucketMeta)]
	if !ok {
		c.w.problems.addf("the meta bucket is missing")
		return nil
	}
	if _, ok := buckets[string(bucketChanges)]; !ok {
		c.w.problems.addf("the changes bucket (the audit trail) is missing")
	}
	if err := c.meta(metaHeader); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(buckets)) {
		if name != string(bucketMeta) {
			c.bucket(name, buckets[name])
		}
		if c.w.problems.full() {
			return nil
		}
	}
	c.crossCheck()
	return nil
}

// rootBuckets reads the top level, which holds only buckets, by name.
func (c *contents) rootBuckets(root uint64) map[string][]byte {
	buckets := map[string][]byte{}
	c.w.tree(root, nil, nil, 0, "the root", func(e entry) {
		if !e.bucket {
			c.w.problems.addf("the root holds %s, which is not a bucket", printable(e.key))
			return
		}
		buckets[string(e.key)] = bytes.Clone(e.value)
	})
	return buckets
}

// meta reads the meta bucket first: its format record says how to read every other record.
func (c *contents) meta(header []byte) error {
	var format, revision []byte
	c.w.bucketTree(string(bucketMeta), header, func(k, v []byte) {
		switch {
		case bytes.Equal(k, keyFormat):
			format = bytes.Clone(v)
		case bytes.Equal(k, keyRevision):
			revision = bytes.Clone(v)
		}
	})
	if err := c.format(format); err != nil {
		return err
	}
	if revision != nil {
		p := c.payload(bucketMeta, keyRevision, revision)
		if p != nil && len(p) != 8 {
			c.w.problems.addf("the revision record is %d bytes, not 8", len(p))
		} else if p != nil {
			c.rep.Revision = binary.BigEndian.Uint64(p)
		}
	}
	return nil
}

// format reads the format record, when there is one, into the report: a newer format than
// this binary reads is an error; a damaged record is a problem.
func (c *contents) format(v []byte) error {
	if v == nil {
		return nil
	}
	p, err := unseal(bucketMeta, keyFormat, v)
	switch {
	case errors.Is(err, ErrNewerFormat):
		return &CheckError{Path: c.rep.Path, Problems: []string{err.Error()}, Err: ErrNewerFormat}
	case err != nil || len(p) != 4:
		// A format record is only ever written sealed: the records are too. Checking them as
		// such says which are sound, where format 0 would call every one of them foreign.
		c.w.problems.addf("the format record is damaged")
		c.rep.Format = storeFormat
		return nil //nolint:nilerr // recorded as a problem; the check goes on to say what else is damaged
	}
	c.rep.Format = int(binary.BigEndian.Uint32(p))
	switch {
	case c.rep.Format > storeFormat:
		return &CheckError{Path: c.rep.Path, Err: ErrNewerFormat,
			Problems: []string{fmt.Sprintf("store format %d; this binary reads up to format %d", c.rep.Format, storeFormat)}}
	case c.rep.Format < 1:
		c.w.problems.addf("the format record says format %d", c.rep.Format)
		c.rep.Format = storeFormat
	}
	return nil
}

// payload unseals a record (a format-0 store has no envelopes) and notes a problem when it cannot.
func (c *contents) payload(bucket, key, v []byte) []byte {
	if c.rep.Format == 0 {
		if len(v) > 0 && v[0] == envelopeMarker {
			// A record of format 1 in a store without a format record: the format record was
			// lost, and taking the store for format 0 would turn every record into garbage.
			c.w.problems.addf("%s is sealed, but the store's format record is missing", recordName(bucket, key))
			return nil
		}
		return v
	}
	p, err := unseal(bucket, key, v)
	if errors.Is(err, ErrNewerFormat) {
		c.rep.newer = true
		c.w.problems.addf("%s", strings.TrimPrefix(err.Error(), ErrNewerFormat.Error()+": "))
		return nil
	}
	if err != nil {
		c.w.problems.addf("%s", strings.TrimPrefix(err.Error(), ErrDamaged.Error()+": "))
		return nil
	}
	return p
}

func (c *contents) bucket(name string, header []byte) {
	bname := []byte(name)
	switch {
	case name == string(bucketChanges):
		c.w.bucketTree(name, header, func(k, v []byte) { c.change(bname, k, v) })
	case strings.HasPrefix(name, objectsPrefix):
		c.w.bucketTree(name, header, func(k, v []byte) { c.object(bname, k, v) })
	case strings.HasPrefix(name, sidePrefix):
		c.w.bucketTree(name, header, func(k, v []byte) { c.side(bname, k, v) })
	default:
		c.w.bucketTree(name, header, func(k, v []byte) { c.payload(bname, k, v) })
	}
}

func (c *contents) change(bucket, k, v []byte) {
	p := c.payload(bucket, k, v)
	if p == nil {
		return
	}
	c.rep.Changes++
	if len(k) != 8 {
		c.w.problems.addf("the audit trail holds a key of %d bytes, not a revision", len(k))
		return
	}
	c.maxRev = max(c.maxRev, binary.BigEndian.Uint64(k))
	// A sealed record's checksum vouches for its bytes; a format-0 one has only its syntax.
	if c.rep.Format == 0 && !json.Valid(p) {
		c.w.problems.addf("audit entry %d is not JSON", binary.BigEndian.Uint64(k))
	}
}

func (c *contents) object(bucket, k, v []byte) {
	p := c.payload(bucket, k, v)
	if p == nil {
		return
	}
	c.rep.Objects++
	if len(p) < 16 {
		c.w.problems.addf("record %s in bucket %s is %d bytes, too short for an object", printable(k), bucket, len(p))
		return
	}
	create, mod := binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])
	if create == 0 || create > mod {
		c.w.problems.addf("record %s in bucket %s has impossible revisions (created %d, modified %d)", printable(k), bucket, create, mod)
	}
	c.maxMod = max(c.maxMod, mod)
}

func (c *contents) side(bucket, k, v []byte) {
	p := c.payload(bucket, k, v)
	if p == nil {
		return
	}
	c.rep.SideRecords++
	if len(p) < 24 {
		c.w.problems.addf("side record %s in bucket %s is %d bytes, too short", printable(k), bucket, len(p))
	}
}

// crossCheck: the revision is the newest audit entry's, and no object is newer. A page of the
// tree replaced by an older copy of itself passes every checksum; this catches it when it holds
// the newest records.
func (c *contents) crossCheck() {
	if c.w.problems.full() {
		return
	}
	if c.maxRev != c.rep.Revision {
		c.w.problems.addf("the store is at revision %d but its audit trail ends at revision %d", c.rep.Revision, c.maxRev)
	}
	if c.maxMod > c.rep.Revision {
		c.w.problems.addf("an object was modified at revision %d, after the store's revision %d", c.maxMod, c.rep.Revision)
	}
}

// guard runs fn, a read through bbolt's memory map, turning a memory fault on a damaged page
// into an error instead of a crash. Check vouches for the file at open; this covers what happens
// to it afterwards (a file truncated or overwritten under a running proxy).
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading the store failed: %v", ErrDamaged, r)
		}
	}()
	return fn()
}

// CheckWithBbolt runs bbolt's own consistency check (tx.Check) on the file at path, as a second
// opinion for `sipfed-proxy store check`. Only call it on a file Check passed: bbolt maps the
// file and trusts what it finds, and Check is what makes that safe.
func CheckWithBbolt(path string) error {
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return ErrLocked
		}
		return err
	}
	defer db.Close()
	var found problems
	err = guard(func() error {
		return db.View(func(tx *bbolt.Tx) error {
			for e := range tx.Check() {
				found.addf("bbolt: %v", e)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return &CheckError{Path: path, Problems: found, Err: ErrDamaged}
	}
	return nil
}
