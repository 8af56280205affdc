package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	bbolt "go.etcd.io/bbolt"
)

const (
	testDomains = 3000 // enough for branch pages in the objects and changes buckets
	testSide    = 400  // enough for side records on pages of their own
)

func domainKey(i int) string { return fmt.Sprintf("partner%05d.example.net", i) }
func sideKey(i int) string   { return fmt.Sprintf("idem-%05d", i) }

// buildStore writes a store as a proxy leaves it after a while: domains (many on branch pages),
// their audit trail, updates, deletes and side records. It returns the closed store's file.
func buildStore(t testing.TB, dir string, domains, side int) string {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ops []store.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		if _, err := s.Txn(ctx, ops, "builder"); err != nil {
			t.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range domains {
		d := api.NewFederatedDomain()
		d.Domain, d.Description = domainKey(i), fmt.Sprintf("partner number %d", i)
		v, _ := json.Marshal(d)
		ops = append(ops, store.Op{Kind: api.KindFederatedDomain, Key: d.Domain, Value: v})
		if i < side {
			ops = append(ops, store.Op{Kind: "idempotency-key", Key: sideKey(i), Value: []byte(`{"status":201}`), Side: true, TTL: time.Hour})
		}
		if len(ops) >= 200 {
			flush()
		}
	}
	flush()
	for i := 0; i < domains; i += 97 {
		ops = append(ops, store.Op{Kind: api.KindFederatedDomain, Key: domainKey(i), Delete: true})
	}
	flush()
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// pristine is one store built per test binary and copied for each test that damages it.
var pristine struct {
	path  string
	data  []byte
	dump  string
	pages []pageOf
}

func pristineStore(t *testing.T) []byte {
	t.Helper()
	if pristine.data == nil {
		dir, err := os.MkdirTemp("", "sipfed-pristine")
		if err != nil {
			t.Fatal(err)
		}
		pristine.path = buildStore(t, dir, testDomains, testSide)
		if pristine.data, err = os.ReadFile(pristine.path); err != nil {
			t.Fatal(err)
		}
		// Without the slack bbolt keeps past its pages for growth: each test copies the file.
		m, err := readMetas(bytes.NewReader(pristine.data), int64(len(pristine.data)))
		if err != nil {
			t.Fatal(err)
		}
		pristine.data = pristine.data[:m.pgid*uint64(m.pageSize)]
		if err := os.WriteFile(pristine.path, pristine.data, 0o600); err != nil {
			t.Fatal(err)
		}
		pristine.dump = dumpStore(t, dir, testSide)
		pristine.pages = pagesOf(t, pristine.data)
		_ = os.RemoveAll(dir)
	}
	return bytes.Clone(pristine.data)
}

// dumpStore opens the store in dir and reads everything it serves: objects, the whole audit
// trail and the side records, as one string.
func dumpStore(t testing.TB, dir string, side int) string {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var b strings.Builder
	objs, rev, err := s.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "revision %d\n", rev)
	for _, o := range objs {
		fmt.Fprintf(&b, "%s/%s %d %d %s\n", o.Kind, o.Key, o.CreateRevision, o.ModRevision, o.Value)
	}
	evs, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		fmt.Fprintf(&b, "%d %s %s/%s %s %s %s\n", e.Revision, e.Time.Format(time.RFC3339Nano), e.Kind, e.Key, e.Action, e.Actor, e.Value)
	}
	for i := range side {
		o, err := s.Get(ctx, "idempotency-key", sideKey(i))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "side %s %s\n", o.Key, o.Value)
	}
	return b.String()
}

// pageOf is a page of the tree as the walker met it.
type pageOf struct {
	id     uint64
	flags  uint16
	bucket string
}

func pagesOf(t *testing.T, data []byte) []pageOf {
	t.Helper()
	if pristine.pages != nil && bytes.Equal(data, pristine.data) {
		return pristine.pages
	}
	r := bytes.NewReader(data)
	m, err := readMetas(r, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var pages []pageOf
	w := newWalker(r, m)
	w.onPage = func(id uint64, flags uint16, bucket string) { pages = append(pages, pageOf{id, flags, bucket}) }
	w.freelist(m.freelist)
	_ = (&contents{w: w, rep: &Report{}}).check(m.root) // the walker's problems are the result
	if len(w.problems) > 0 {
		t.Fatalf("the pristine store has problems: %v", w.problems)
	}
	return pages
}

func pageSizeOf(data []byte) int { return int(native.Uint32(data[pageHeaderSize+8:])) }

// findPage is the first page of a type in a bucket.
func findPage(t *testing.T, data []byte, bucket string, flags uint16) uint64 {
	t.Helper()
	for _, p := range pagesOf(t, data) {
		if p.bucket == bucket && p.flags == flags {
			return p.id
		}
	}
	t.Fatalf("no page of type 0x%x in bucket %s", flags, bucket)
	return 0
}

// findInBucket is the offset of the first occurrence of needle on a leaf page of bucket.
func findInBucket(t *testing.T, data []byte, bucket string, needle []byte) int {
	t.Helper()
	ps := pageSizeOf(data)
	for _, p := range pagesOf(t, data) {
		if p.bucket != bucket || p.flags != leafPage {
			continue
		}
		start := int(p.id) * ps
		if i := bytes.Index(data[start:start+ps], needle); i >= 0 {
			return start + i
		}
	}
	t.Fatalf("%q is on no leaf page of bucket %s", needle, bucket)
	return 0
}

var domainsBucket = objectsPrefix + api.KindFederatedDomain

// damages are what bad luck and attackers do to a store file. Each says what the check must name.
var damages = []struct {
	name string
	do   func(t *testing.T, data []byte) []byte
	want string
}{
	{"meta page 0 flipped", func(t *testing.T, data []byte) []byte {
		data[pageHeaderSize+40] ^= 0x01 // its page count
		return data
	}, "meta page 0 is damaged (checksum mismatch)"},
	{"meta page 1 flipped", func(t *testing.T, data []byte) []byte {
		data[pageSizeOf(data)+pageHeaderSize+16] ^= 0x80 // its root page
		return data
	}, "meta page 1 is damaged (checksum mismatch)"},
	{"branch page element flipped", func(t *testing.T, data []byte) []byte {
		id := findPage(t, data, domainsBucket, branchPage)
		off := int(id)*pageSizeOf(data) + pageHeaderSize + elemSize + 8 // element 1's child page
		data[off+2] ^= 0xff
		return data
	}, "outside the store"},
	{"branch page key flipped", func(t *testing.T, data []byte) []byte {
		id := findPage(t, data, domainsBucket, branchPage)
		e := int(id)*pageSizeOf(data) + pageHeaderSize + elemSize // element 1
		pos, ksize := int(native.Uint32(data[e:])), int(native.Uint32(data[e+4:]))
		data[e+pos+ksize-1] ^= 0x01 // the key's last byte, so that it sorts after its child's first
		return data
	}, "out of order"},
	{"branch page leads to itself", func(t *testing.T, data []byte) []byte {
		id := findPage(t, data, domainsBucket, branchPage)
		native.PutUint64(data[int(id)*pageSizeOf(data)+pageHeaderSize+8:], id)
		return data
	}, "referenced twice"},
	{"leaf page count lowered", func(t *testing.T, data []byte) []byte {
		id := findPage(t, data, domainsBucket, leafPage)
		off := int(id)*pageSizeOf(data) + 10
		native.PutUint16(data[off:], native.Uint16(data[off:])-1)
		return data
	}, "not where the page layout puts it"},
	{"object value flipped", func(t *testing.T, data []byte) []byte {
		key := domainKey(1234)
		off := findInBucket(t, data, domainsBucket, []byte(key)) + len(key) + envelopeHeader + 20
		data[off] ^= 0x04
		return data
	}, `record "partner01234.example.net" in bucket objects/federated_domain: checksum mismatch`},
	{"object key flipped", func(t *testing.T, data []byte) []byte {
		off := findInBucket(t, data, domainsBucket, []byte(domainKey(1234)))
		data[off+len("partner0123")] = '5' // partner01235 exists: the key is out of order or a twin
		return data
	}, "partner01235"},
	{"object key renamed in place", func(t *testing.T, data []byte) []byte {
		off := findInBucket(t, data, domainsBucket, []byte(domainKey(1234)))
		copy(data[off+len("partner01234."):], "exbmple") // still in order, but not the key it was sealed under
		return data
	}, `record "partner01234.exbmple.net" in bucket objects/federated_domain: checksum mismatch`},
	{"audit entry flipped", func(t *testing.T, data []byte) []byte {
		off := findInBucket(t, data, string(bucketChanges), []byte(`"key":"`+domainKey(2000)+`"`))
		data[off+8] ^= 0x20
		return data
	}, "audit entry "},
	{"side record flipped", func(t *testing.T, data []byte) []byte {
		off := findInBucket(t, data, sidePrefix+"idempotency-key", []byte(sideKey(300)))
		data[off+len(sideKey(300))+envelopeHeader+3] ^= 0x10
		return data
	}, `record "idem-00300" in bucket side/idempotency-key: checksum mismatch`},
	{"freelist page flipped", func(t *testing.T, data []byte) []byte {
		m, err := readMetas(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		off := int(m.freelist)*pageSizeOf(data) + pageHeaderSize
		native.PutUint64(data[off:], m.pgid+7) // a free page past the end
		return data
	}, "the freelist holds page"},
	{"one page short", func(t *testing.T, data []byte) []byte {
		// bbolt grows a file ahead of its use: cut into the pages in use.
		m, err := readMetas(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		return data[:(int(m.pgid)-1)*pageSizeOf(data)]
	}, "is truncated"},
	{"all zeros", func(t *testing.T, data []byte) []byte {
		return make([]byte, len(data))
	}, "is all zeros"},
	{"not a bbolt file", func(t *testing.T, data []byte) []byte {
		return bytes.Repeat([]byte(`{"domain": "not a store"}`+"\n"), 1000)
	}, "is not a bbolt store"},
	{"a few bytes", func(t *testing.T, data []byte) []byte {
		return data[:100]
	}, "too short to hold a store"},
	{"empty", func(t *testing.T, data []byte) []byte {
		return nil
	}, "is empty (0 bytes)"},
}

// Every damage is found, named, and refused by Open with the file and the way out, without a panic.
func TestCheckFindsDamage(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, d.do(t, pristineStore(t)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Check(path, 0)
			var ce *CheckError
			if !errors.As(err, &ce) || !errors.Is(err, ErrDamaged) {
				t.Fatalf("Check: err = %v, want a CheckError for damage", err)
			}
			if !strings.Contains(strings.Join(ce.Problems, "\n"), d.want) {
				t.Fatalf("problems do not say %q:\n%s", d.want, strings.Join(ce.Problems, "\n"))
			}
			_, err = Open(dir, Options{})
			if err == nil {
				t.Fatal("Open took a damaged store")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, "sipfed-proxy store restore --from BACKUP --data-dir "+dir) || strings.Contains(msg, "\n") {
				t.Fatalf("Open's error is not one line naming the file and the way out: %s", msg)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, d.do(t, pristineStore(t))) {
				t.Fatal("a refused store file was written to")
			}
		})
	}
}

// Bad luck at random: bytes flipped anywhere in the file, and in every other round on the
// structure bbolt navigates by (page headers, element tables, meta pages). The check never
// panics, and whatever it lets through serves exactly what the store held (the flip fell on
// bytes nothing reads).
func TestRandomFlipsAreFoundOrHarmless(t *testing.T) {
	rounds := 200
	if testing.Short() || raceEnabled {
		rounds = 30
	}
	rng := rand.New(rand.NewPCG(7, 7))
	pages := pagesOf(t, pristineStore(t))
	ps := pageSizeOf(pristineStore(t))
	inUse := 0 // bytes up to the high water mark: past it lies the slack bbolt keeps for growth
	for _, p := range pages {
		inUse = max(inUse, (int(p.id)+1)*ps)
	}
	found, harmless := 0, 0
	for round := range rounds {
		data := pristineStore(t)
		for range 1 + rng.IntN(8) {
			off := rng.IntN(inUse)
			if round%2 == 1 {
				p := pages[rng.IntN(len(pages))]
				off = int(p.id)*ps + rng.IntN(pageHeaderSize+4*elemSize)
				if rng.IntN(5) == 0 {
					off = rng.IntN(2)*ps + rng.IntN(pageHeaderSize+metaSize)
				}
			}
			data[off] ^= byte(1 + rng.IntN(255))
		}
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Check(path, 0)
		if rep != nil && len(rep.Problems) > 0 && strings.Contains(rep.Problems[0], "unexpected data") {
			t.Fatalf("round %d: the check itself failed: %v", round, rep.Problems)
		}
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("round %d: %v", round, err)
			}
			found++
			continue
		}
		if got := dumpStore(t, dir, testSide); got != pristine.dump {
			t.Fatalf("round %d: the check passed a store that serves other data", round)
		}
		harmless++
	}
	t.Logf("%d rounds: %d damaged stores refused, %d flips on bytes nothing reads", rounds, found, harmless)
}

func TestCheckReportsASoundStore(t *testing.T) {
	dir := t.TempDir()
	path := buildStore(t, dir, 500, 50)
	rep, err := Check(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Format != storeFormat || rep.Fresh || rep.Revision != 506 || rep.Objects != 494 || rep.Changes != 506 || rep.SideRecords != 50 {
		t.Fatalf("report = %+v; want format %d, revision 506, 494 objects, 506 changes, 50 side records", rep, storeFormat)
	}
}

// A proxy holds the store's lock: a check refuses to read a file that is being written.
func TestCheckRefusesALockedStore(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := Check(s.Path(), 100*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("Check of an open store: err = %v, want ErrLocked", err)
	}
}

// rewrite changes a closed store with bbolt directly, as another program (or a newer sipfed)
// would.
func rewrite(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewerFormatsAreRefused(t *testing.T) {
	cases := []struct {
		name string
		fn   func(tx *bbolt.Tx) error
		want string
	}{
		{"store format 2", func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyFormat, seal(bucketMeta, keyFormat, binary.BigEndian.AppendUint32(nil, 2)))
		}, "store format 2; this binary reads up to format 1"},
		{"a record of format 2", func(tx *bbolt.Tx) error {
			b, k := objectsBucket(api.KindFederatedDomain), []byte(domainKey(3))
			payload := encodeRecord(4, 4, []byte(`{}`))
			v := append([]byte{envelopeMarker, 2, 0, 0, 0, 0}, payload...)
			binary.BigEndian.PutUint32(v[2:], recordCRC(b, k, 2, payload))
			return tx.Bucket(b).Put(k, v)
		}, `record "partner00003.example.net" in bucket objects/federated_domain has format 2`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := buildStore(t, dir, 10, 0)
			rewrite(t, path, tc.fn)
			_, err := Open(dir, Options{})
			if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "run the sipfed-proxy version that wrote it") {
				t.Fatalf("Open: %v; want ErrNewerFormat saying %q", err, tc.want)
			}
		})
	}
}

// The store's revision record, rewritten with a valid checksum, disagrees with the audit trail.
func TestCheckCrossChecksTheRevision(t *testing.T) {
	dir := t.TempDir()
	path := buildStore(t, dir, 10, 0)
	rewrite(t, path, func(tx *bbolt.Tx) error { return writeRevision(tx, 5) })
	_, err := Check(path, 0)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "the store is at revision 5 but its audit trail ends at revision 11") {
		t.Fatalf("Check: %v", err)
	}
}

// The format record lost (its key damaged): the store must not be taken for format 0, which would
// seal every record again, damage included.
func TestLostFormatRecordIsDamage(t *testing.T) {
	dir := t.TempDir()
	path := buildStore(t, dir, 10, 0)
	rewrite(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyFormat) })
	_, err := Open(dir, Options{})
	var ce *CheckError
	if !errors.As(err, &ce) || !errors.Is(err, ErrDamaged) ||
		!strings.Contains(strings.Join(ce.Problems, "\n"), "audit entry 1 is sealed, but the store's format record is missing") {
		t.Fatalf("Open: %v", err)
	}
}

// A damaged format record does not make the records look foreign: they are checked as sealed.
func TestDamagedFormatRecordStillChecksRecords(t *testing.T) {
	dir := t.TempDir()
	path := buildStore(t, dir, 10, 0)
	rewrite(t, path, func(tx *bbolt.Tx) error {
		v := bytes.Clone(tx.Bucket(bucketMeta).Get(keyFormat))
		v[len(v)-1] ^= 0x40
		return tx.Bucket(bucketMeta).Put(keyFormat, v)
	})
	_, err := Check(path, 0)
	var ce *CheckError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0] != "the format record is damaged" {
		t.Fatalf("Check: %v %q; want the format record as the one problem", err, ce.Problems)
	}
}

// legacyStore writes a store as the binary before record checksums did: bare records.
func legacyStore(t *testing.T, dir string, domains int) string {
	t.Helper()
	path := filepath.Join(dir, FileName)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		m, _ := tx.CreateBucket(bucketMeta)
		ch, _ := tx.CreateBucket(bucketChanges)
		objs, _ := tx.CreateBucket(objectsBucket(api.KindFederatedDomain))
		side, _ := tx.CreateBucket(sideBucket("idempotency-key"))
		for i := range domains {
			rev := uint64(i + 1)
			v := []byte(fmt.Sprintf(`{"domain":%q}`, domainKey(i)))
			if err := objs.Put([]byte(domainKey(i)), encodeRecord(rev, rev, v)); err != nil {
				return err
			}
			c, _ := json.Marshal(changeRecord{Time: time.Unix(1700000000, 0).UTC(), Kind: api.KindFederatedDomain, Key: domainKey(i), Action: api.ActionCreate, Actor: "old", Value: v})
			if err := ch.Put(revKey(rev), c); err != nil {
				return err
			}
		}
		if err := side.Put([]byte("k1"), encodeSide(time.Time{}, 1, []byte("resp"))); err != nil {
			return err
		}
		return m.Put(keyRevision, revKey(uint64(domains)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A store from before record checksums is migrated on open: every record sealed, one log line, a
// copy of the old file kept, and the same configuration served.
func TestFormat0StoreIsMigrated(t *testing.T) {
	dir := t.TempDir()
	path := legacyStore(t, dir, 300)
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := Open(dir, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	objs, rev, err := s.ListAll(ctx)
	if err != nil || rev != 300 || len(objs) != 300 || string(objs[7].Value) != fmt.Sprintf(`{"domain":%q}`, domainKey(7)) {
		t.Fatalf("after migration: %d objects at revision %d, %v", len(objs), rev, err)
	}
	evs, err := s.Changes(ctx, 0, 0)
	if err != nil || len(evs) != 300 || evs[299].Actor != "old" {
		t.Fatalf("audit trail after migration: %d entries, %v", len(evs), err)
	}
	if o, err := s.Get(ctx, "idempotency-key", "k1"); err != nil || string(o.Value) != "resp" {
		t.Fatalf("side record after migration: %+v, %v", o, err)
	}
	if _, err := s.Put(ctx, api.KindFederatedDomain, "new.example.net", []byte(`{}`), store.Cond{}, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "store migrated to format 1") || !strings.Contains(logs.String(), telemetry.KeyCount+"=602") {
		t.Errorf("no migration log line with the record count:\n%s", logs.String())
	}
	kept, err := os.ReadFile(format0Copy(path))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Check(format0Copy(path), 0); err != nil || rep.Format != 0 || rep.Objects != 300 || rep.TxID != 2 || len(kept) == 0 || len(old) == 0 {
		t.Fatalf("the kept format-0 copy: %+v, %v", rep, err)
	}
	rep, err := Check(path, 0)
	if err != nil || rep.Format != storeFormat || rep.Revision != 301 {
		t.Fatalf("the migrated store: %+v, %v", rep, err)
	}
}

// A format-0 store that is already damaged is refused, not sealed with its damage.
func TestDamagedFormat0StoreIsNotMigrated(t *testing.T) {
	dir := t.TempDir()
	path := legacyStore(t, dir, 20)
	rewrite(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketChanges).Put(revKey(20), []byte(`{"kind": truncat`))
	})
	before, _ := os.ReadFile(path)
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "audit entry 20 is not JSON") {
		t.Fatalf("Open: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the refused store was changed")
	}
	if _, err := os.Stat(format0Copy(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a copy was made of a store that was not migrated: %v", err)
	}
}

// A file bbolt created whose store never wrote its buckets (a crash in the first commit) is a
// new store, not damage.
func TestBareBboltFileIsANewStore(t *testing.T) {
	dir := t.TempDir()
	rewrite(t, filepath.Join(dir, FileName), func(*bbolt.Tx) error { return nil })
	s := open(t, dir)
	if rev, err := s.Revision(context.Background()); err != nil || rev != 0 {
		t.Fatalf("revision %d, %v", rev, err)
	}
	mustPut(t, s, api.KindFederatedDomain, "a.com")
}

// A record damaged after the store was opened (another program wrote the file) is an error on
// read, never a value.
func TestReadsVerifyChecksums(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	mustPut(t, s, api.KindFederatedDomain, "a.com")
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(objectsBucket(api.KindFederatedDomain))
		v := bytes.Clone(b.Get([]byte("a.com")))
		v[len(v)-2] ^= 1
		return b.Put([]byte("a.com"), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, api.KindFederatedDomain, "a.com"); !errors.Is(err, ErrDamaged) {
		t.Errorf("Get: %v, want ErrDamaged", err)
	}
	if _, _, err := s.ListAll(ctx); !errors.Is(err, ErrDamaged) {
		t.Errorf("ListAll: %v, want ErrDamaged", err)
	}
	if _, err := s.Put(ctx, api.KindFederatedDomain, "a.com", []byte(`{}`), store.Cond{}, "t"); !errors.Is(err, ErrDamaged) {
		t.Errorf("Put over a damaged record: %v, want ErrDamaged", err)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	src := t.TempDir()
	buildStore(t, src, 200, 20)
	want := dumpStore(t, src, 20)
	s := open(t, src)
	var buf bytes.Buffer
	var size int64
	var rev uint64
	n, err := s.Backup(context.Background(), &buf, func(sz int64, r uint64) { size, rev = sz, r })
	if err != nil || n != size || int64(buf.Len()) != size || rev != 203 {
		t.Fatalf("Backup: %d bytes of %d announced, revision %d, %v", n, size, rev, err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	rep, err := SaveBackup(backup, &buf, size)
	if err != nil || rep.Revision != 203 || rep.Path != backup {
		t.Fatalf("SaveBackup: %+v, %v", rep, err)
	}

	// Restoring over the store of a running proxy is refused.
	if _, err := Restore(backup, src); !errors.Is(err, ErrLocked) {
		t.Fatalf("Restore over an open store: %v, want ErrLocked", err)
	}
	_ = s.Close()

	// Restoring over a damaged store replaces it and keeps it aside.
	dst := t.TempDir()
	damagedFile := filepath.Join(dst, FileName)
	if err := os.WriteFile(damagedFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Restore(backup, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Revision != 203 || res.Report.Path != damagedFile {
		t.Fatalf("restore report: %+v", res.Report)
	}
	if kept, err := os.ReadFile(res.Previous); err != nil || string(kept) != "garbage" {
		t.Fatalf("previous store not kept aside: %q, %v", kept, err)
	}
	if got := dumpStore(t, dst, 20); got != want {
		t.Fatal("the restored store serves other data than the one backed up")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dst, "*.tmp-*"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	// A new machine: no data directory yet, nothing to keep aside.
	fresh := filepath.Join(t.TempDir(), "new", "data")
	res, err = Restore(backup, fresh)
	if err != nil || res.Previous != "" {
		t.Fatalf("restore into a new directory: %+v, %v", res, err)
	}
	if got := dumpStore(t, fresh, 20); got != want {
		t.Fatal("the store restored into a new directory serves other data")
	}
}

func TestSaveBackupRefusesABadCopy(t *testing.T) {
	src := t.TempDir()
	buildStore(t, src, 50, 0)
	s := open(t, src)
	var buf bytes.Buffer
	var size int64
	if _, err := s.Backup(context.Background(), &buf, func(sz int64, _ uint64) { size = sz }); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "b.db")
	if _, err := SaveBackup(to, io.LimitReader(bytes.NewReader(buf.Bytes()), size/2), size); err == nil {
		t.Fatal("a short backup was saved")
	}
	data := bytes.Clone(buf.Bytes())
	data[findInBucket(t, data, domainsBucket, []byte(domainKey(30)))+40] ^= 0xff
	if _, err := SaveBackup(to, bytes.NewReader(data), size); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a damaged backup: %v, want ErrDamaged", err)
	}
	if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a backup that failed its check was kept: %v", err)
	}
	leftovers, _ := filepath.Glob(to + ".tmp-*")
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

// A file cut short under an open store (another program did it): reads through bbolt's memory
// map fault, and the fault is an error, not a crashed proxy.
func TestReadsOfAFileTruncatedUnderTheStoreFail(t *testing.T) {
	dir := t.TempDir()
	buildStore(t, dir, 2000, 0)
	s := open(t, dir)
	if err := os.Truncate(s.Path(), int64(2*os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.ListAll(context.Background())
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "reading the store failed") {
		t.Fatalf("ListAll of a truncated file: %v, want ErrDamaged", err)
	}
}

// A backup streams to a client that may be slow, holding a read transaction all along. Writes go
// on meanwhile, even those that grow the file (bbolt remaps its file only when no read
// transaction is open).
func TestWritesGoOnDuringASlowBackup(t *testing.T) {
	s := open(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	defer pr.Close()
	started := make(chan struct{})
	go func() {
		_, _ = s.Backup(ctx, pw, func(int64, uint64) { close(started) })
	}()
	<-started
	_, _ = pr.Read(make([]byte, 1)) // the client reads a byte, then stalls
	done := make(chan error, 1)
	go func() {
		big := []byte(`"` + strings.Repeat("x", 4000) + `"`)
		for i := range 40 { // about 8 MB: far past the file's first memory map
			var ops []store.Op
			for j := range 50 {
				ops = append(ops, store.Op{Kind: api.KindFederatedDomain, Key: domainKey(i*50 + j), Value: big})
			}
			if _, err := s.Txn(context.Background(), ops, "t"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("writes stalled behind a slow backup")
	}
}
