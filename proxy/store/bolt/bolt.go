// Package bolt is the embedded store: one bbolt file in the data directory, fsynced on every
// commit, so one node needs no other server.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside the data directory.
const FileName = "sipfed.db"

var (
	bucketMeta    = []byte("meta")
	bucketChanges = []byte("changes")
	keyRevision   = []byte("revision")
	objectsPrefix = "objects/"
	sidePrefix    = "side/"
)

// initialMmapSize is the address space bbolt maps up front. bbolt remaps a growing file only
// once no read transaction is open, so a backup streaming to a slow client would stall every write
// that grows the file; below this size none has to. It costs address space, not memory. Windows
// grows the file itself to the mapped size, so there bbolt keeps its default.
func initialMmapSize() int {
	if runtime.GOOS == "windows" {
		return 0
	}
	return 1 << 30
}

// sidePurgeEvery is how often a write also drops expired side records.
const sidePurgeEvery = time.Minute

// Store is a bbolt-backed store.Store.
type Store struct {
	db *bbolt.DB

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every commit: wakes watchers
	closed    bool
	done      chan struct{}
	lastPurge time.Time
	now       func() time.Time
}

var _ store.Store = (*Store)(nil)

// Options tune the store.
type Options struct {
	// Timeout to wait for the file lock held by another process.
	LockTimeout time.Duration
	// Log gets the line about a format migration; nil is slog.Default().
	Log *slog.Logger
}

// Open opens the store in dir, creating it when the file does not exist. An existing file is
// checked completely first (see Check) and refused when damaged: a *CheckError that names the
// file and says what to do. A store from before record checksums is migrated in place.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	path := filepath.Join(dir, FileName)
	rep, err := Check(path, opts.LockTimeout)
	created := errors.Is(err, fs.ErrNotExist)
	if err != nil && !created {
		return nil, openError(path, dir, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout, FreelistType: bbolt.FreelistMapType,
		InitialMmapSize: initialMmapSize()})
	if err != nil {
		return nil, openError(path, dir, err)
	}
	// Concurrent writers share one commit and one fsync; a short delay keeps a lone write fast.
	db.MaxBatchDelay = time.Millisecond
	s := &Store{db: db, changed: make(chan struct{}), done: make(chan struct{}), now: time.Now}
	if err := s.prepare(rep, opts.Log); err != nil {
		_ = db.Close()
		return nil, openError(path, dir, err)
	}
	return s, nil
}

// prepare makes an opened file a current store: it creates a new one, migrates one of format 0,
// and makes sure the file bbolt opened is the one that was checked.
func (s *Store) prepare(rep *Report, log *slog.Logger) error {
	var txid uint64
	if err := s.db.View(func(tx *bbolt.Tx) error { txid = uint64(tx.ID()); return nil }); err != nil {
		return err
	}
	switch {
	case rep != nil && txid != rep.TxID:
		return errors.New("the file changed between its check and its opening (did another process write it?); start again")
	case rep == nil || rep.Fresh:
		return s.initialize()
	case rep.Format == 0:
		return s.migrate(rep, log)
	}
	return nil
}

// initialize gives a new file its buckets and its format record, in one commit.
func (s *Store) initialize() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketChanges} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return putFormat(tx)
	})
}

func putFormat(tx *bbolt.Tx) error {
	return tx.Bucket(bucketMeta).Put(keyFormat, seal(bucketMeta, keyFormat, binary.BigEndian.AppendUint32(nil, storeFormat)))
}

// openError says what went wrong opening the store and, when the file is at fault, what to do.
func openError(path, dir string, err error) error {
	var ce *CheckError
	switch {
	case errors.As(err, &ce):
		ce.Advice = advice(ce, dir)
		return ce
	case errors.Is(err, ErrLocked), errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("store %s is locked by another process (is another sipfed-proxy running on this data directory?)", path)
	}
	return fmt.Errorf("store %s: %w", path, err)
}

func advice(ce *CheckError, dir string) string {
	restore := fmt.Sprintf("'sipfed-proxy store restore --from BACKUP --data-dir %s'", dir)
	switch {
	case errors.Is(ce.Err, ErrNewerFormat):
		return "run the sipfed-proxy version that wrote it, or restore a backup made by this version with " + restore
	case len(ce.Problems) == 1 && strings.HasPrefix(ce.Problems[0], "is empty"):
		return "restore it from a backup with " + restore + ", or delete the file to start with no configuration"
	}
	return fmt.Sprintf("restore it from a backup with %s ('sipfed-proxy store check --data-dir %s' lists what is wrong)", restore, dir)
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.db.Path() }

// Close closes the store and ends every watch.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	return s.db.Close()
}

// An object's record (the payload of its envelope): create and mod revisions, then the value.
func encodeRecord(create, mod uint64, value []byte) []byte {
	b := make([]byte, 16+len(value))
	binary.BigEndian.PutUint64(b, create)
	binary.BigEndian.PutUint64(b[8:], mod)
	copy(b[16:], value)
	return b
}

// decodeRecord reads a sealed object record.
func decodeRecord(kind, key string, v []byte) (store.Object, error) {
	bucket := objectsBucket(kind)
	b, err := unseal(bucket, []byte(key), v)
	if err != nil {
		return store.Object{}, err
	}
	if len(b) < 16 {
		return store.Object{}, damaged(bucket, []byte(key), "too short")
	}
	return store.Object{
		Kind:           kind,
		Key:            key,
		CreateRevision: binary.BigEndian.Uint64(b),
		ModRevision:    binary.BigEndian.Uint64(b[8:]),
		Value:          bytes.Clone(b[16:]),
	}, nil
}

// changeRecord is the stored form of an event in the changes bucket, keyed by revision.
type changeRecord struct {
	Time   time.Time       `json:"time"`
	Kind   string          `json:"kind"`
	Key    string          `json:"key"`
	Action string          `json:"action"`
	Actor  string          `json:"actor"`
	Value  json.RawMessage `json:"value,omitempty"`
}

func revKey(rev uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], rev)
	return k[:]
}

func objectsBucket(kind string) []byte { return []byte(objectsPrefix + kind) }

func sideBucket(kind string) []byte { return []byte(sidePrefix + kind) }

// A side record's payload is its expiry (Unix nanoseconds, 0 for never), then a record as
// encodeRecord makes it.
func encodeSide(expires time.Time, rev uint64, value []byte) []byte {
	var exp uint64
	if !expires.IsZero() {
		exp = uint64(expires.UnixNano())
	}
	rec := encodeRecord(rev, rev, value)
	b := make([]byte, 8+len(rec))
	binary.BigEndian.PutUint64(b, exp)
	copy(b[8:], rec)
	return b
}

// decodeSide decodes a sealed side record; live is false once it expired.
func decodeSide(kind, key string, v []byte, now time.Time) (obj store.Object, live bool, err error) {
	bucket := sideBucket(kind)
	b, err := unseal(bucket, []byte(key), v)
	if err != nil {
		return store.Object{}, false, err
	}
	if len(b) < 24 {
		return store.Object{}, false, damaged(bucket, []byte(key), "too short")
	}
	exp := binary.BigEndian.Uint64(b)
	obj = store.Object{
		Kind: kind, Key: key,
		CreateRevision: binary.BigEndian.Uint64(b[8:]),
		ModRevision:    binary.BigEndian.Uint64(b[16:]),
		Value:          bytes.Clone(b[24:]),
	}
	return obj, exp == 0 || uint64(now.UnixNano()) < exp, nil
}

func (s *Store) Get(ctx context.Context, kind, key string) (store.Object, error) {
	if err := ctx.Err(); err != nil {
		return store.Object{}, err
	}
	var obj store.Object
	err := s.view(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(objectsBucket(kind)); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				var err error
				obj, err = decodeRecord(kind, key, v)
				return err
			}
		}
		if b := tx.Bucket(sideBucket(kind)); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				o, live, err := decodeSide(kind, key, v, s.now())
				if err != nil {
					return err
				}
				if live {
					obj = o
					return nil
				}
			}
		}
		return store.ErrNotFound
	})
	return obj, s.wrap(err)
}

func (s *Store) List(ctx context.Context, kind string) ([]store.Object, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var (
		objs []store.Object
		rev  uint64
	)
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		if rev, err = readRevision(tx); err != nil {
			return err
		}
		b := tx.Bucket(objectsBucket(kind))
		if b == nil {
			return nil
		}
		objs = make([]store.Object, 0, b.Stats().KeyN)
		return b.ForEach(func(k, v []byte) error {
			o, err := decodeRecord(kind, string(k), v)
			objs = append(objs, o)
			return err
		})
	})
	return objs, rev, s.wrap(err)
}

func (s *Store) ListAll(ctx context.Context) ([]store.Object, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var (
		objs []store.Object
		rev  uint64
	)
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		if rev, err = readRevision(tx); err != nil {
			return err
		}
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			kind, ok := bytes.CutPrefix(name, []byte(objectsPrefix))
			if !ok {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				o, err := decodeRecord(string(kind), string(k), v)
				objs = append(objs, o)
				return err
			})
		})
	})
	return objs, rev, s.wrap(err)
}

func (s *Store) Revision(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev uint64
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		rev, err = readRevision(tx)
		return err
	})
	return rev, s.wrap(err)
}

// readRevision is the store's revision: 0 before the first write.
func readRevision(tx *bbolt.Tx) (uint64, error) {
	v := tx.Bucket(bucketMeta).Get(keyRevision)
	if v == nil {
		return 0, nil
	}
	b, err := unseal(bucketMeta, keyRevision, v)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, damaged(bucketMeta, keyRevision, "not 8 bytes")
	}
	return binary.BigEndian.Uint64(b), nil
}

func writeRevision(tx *bbolt.Tx, rev uint64) error {
	return tx.Bucket(bucketMeta).Put(keyRevision, seal(bucketMeta, keyRevision, revKey(rev)))
}

// view runs a read transaction, guarded against faults on a damaged memory map.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	return guard(func() error { return s.db.View(fn) })
}

func (s *Store) Put(ctx context.Context, kind, key string, value []byte, cond store.Cond, actor string) (store.Object, error) {
	return store.PutOne(ctx, s, kind, key, value, cond, actor)
}

func (s *Store) Delete(ctx context.Context, kind, key string, cond store.Cond, actor string) (uint64, error) {
	return store.DeleteOne(ctx, s, kind, key, cond, actor)
}

// Txn checks every condition, then applies the ops in order, each configuration op at the next
// revision, all in one bbolt transaction.
func (s *Store) Txn(ctx context.Context, ops []store.Op, actor string) (store.TxnResult, error) {
	if len(ops) == 0 {
		return store.TxnResult{}, errors.New("store: empty transaction")
	}
	var res store.TxnResult
	purge := s.purgeDue()
	err := s.write(ctx, func(tx *bbolt.Tx, base uint64, now time.Time) (uint64, error) {
		res = store.TxnResult{Objects: make([]store.Object, len(ops))}
		prevs := make([]*store.Object, len(ops))
		for i, op := range ops {
			prev, err := current(tx, op, now)
			if err != nil {
				return 0, err
			}
			if err := check(op, prev); err != nil {
				return 0, &store.CondError{Index: i, Err: err}
			}
			prevs[i] = prev
		}
		rev := base
		for i, op := range ops {
			if op.Side {
				continue
			}
			rev++
			if err := applyConfig(tx, op, prevs[i], rev, now, actor, &res.Objects[i]); err != nil {
				return 0, err
			}
		}
		for i, op := range ops {
			if !op.Side {
				continue
			}
			if err := applySide(tx, op, rev, now, &res.Objects[i]); err != nil {
				return 0, err
			}
		}
		if purge {
			if err := purgeSide(tx, now); err != nil {
				return 0, err
			}
		}
		res.Revision = rev
		return rev, nil
	})
	if err != nil {
		return store.TxnResult{}, err
	}
	return res, nil
}

// current is the object op finds, nil when there is none (or a side record expired).
func current(tx *bbolt.Tx, op store.Op, now time.Time) (*store.Object, error) {
	if op.Side {
		b := tx.Bucket(sideBucket(op.Kind))
		if b == nil {
			return nil, nil
		}
		v := b.Get([]byte(op.Key))
		if v == nil {
			return nil, nil
		}
		o, live, err := decodeSide(op.Kind, op.Key, v, now)
		if err != nil || !live {
			return nil, err
		}
		return &o, nil
	}
	b := tx.Bucket(objectsBucket(op.Kind))
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(op.Key))
	if v == nil {
		return nil, nil
	}
	o, err := decodeRecord(op.Kind, op.Key, v)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

func check(op store.Op, prev *store.Object) error {
	if prev == nil {
		if op.Delete || op.Cond.MustExist || op.Cond.ModRevision != 0 {
			return store.ErrNotFound
		}
		return nil
	}
	if op.Cond.MustNotExist {
		return store.ErrExists
	}
	if op.Cond.ModRevision != 0 && op.Cond.ModRevision != prev.ModRevision {
		return store.ErrRevisionMismatch
	}
	return nil
}

func applyConfig(tx *bbolt.Tx, op store.Op, prev *store.Object, rev uint64, now time.Time, actor string, out *store.Object) error {
	if op.Delete {
		if err := tx.Bucket(objectsBucket(op.Kind)).Delete([]byte(op.Key)); err != nil {
			return err
		}
		*out = store.Object{Kind: op.Kind, Key: op.Key, ModRevision: rev}
		return logChange(tx, rev, changeRecord{Time: now, Kind: op.Kind, Key: op.Key, Action: api.ActionDelete, Actor: actor})
	}
	b, err := tx.CreateBucketIfNotExists(objectsBucket(op.Kind))
	if err != nil {
		return err
	}
	action, create := api.ActionCreate, rev
	if prev != nil {
		action, create = api.ActionUpdate, prev.CreateRevision
	}
	if err := b.Put([]byte(op.Key), seal(objectsBucket(op.Kind), []byte(op.Key), encodeRecord(create, rev, op.Value))); err != nil {
		return err
	}
	*out = store.Object{Kind: op.Kind, Key: op.Key, Value: op.Value, CreateRevision: create, ModRevision: rev}
	return logChange(tx, rev, changeRecord{Time: now, Kind: op.Kind, Key: op.Key, Action: action, Actor: actor, Value: op.Value})
}

func applySide(tx *bbolt.Tx, op store.Op, rev uint64, now time.Time, out *store.Object) error {
	b, err := tx.CreateBucketIfNotExists(sideBucket(op.Kind))
	if err != nil {
		return err
	}
	if op.Delete {
		*out = store.Object{Kind: op.Kind, Key: op.Key, ModRevision: rev}
		return b.Delete([]byte(op.Key))
	}
	var expires time.Time
	if op.TTL > 0 {
		expires = now.Add(op.TTL)
	}
	*out = store.Object{Kind: op.Kind, Key: op.Key, Value: op.Value, CreateRevision: rev, ModRevision: rev}
	return b.Put([]byte(op.Key), seal(sideBucket(op.Kind), []byte(op.Key), encodeSide(expires, rev, op.Value)))
}

// purgeDue reports whether this write should also drop expired side records.
func (s *Store) purgeDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.lastPurge) < sidePurgeEvery {
		return false
	}
	s.lastPurge = now
	return true
}

func purgeSide(tx *bbolt.Tx, now time.Time) error {
	return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		kind, ok := bytes.CutPrefix(name, []byte(sidePrefix))
		if !ok {
			return nil
		}
		var dead [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if _, live, err := decodeSide(string(kind), string(k), v, now); err == nil && !live {
				dead = append(dead, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// write runs fn in a batched read-write transaction. fn gets the store's revision and returns the
// revision it wrote up to. bbolt may run fn more than once (a failed member of a batch is retried
// alone), so fn only touches the transaction.
func (s *Store) write(ctx context.Context, fn func(tx *bbolt.Tx, base uint64, now time.Time) (uint64, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		base, err := readRevision(tx)
		if err != nil {
			return err
		}
		rev, err := fn(tx, base, s.now().UTC())
		if err != nil {
			return err
		}
		if rev == base {
			return nil
		}
		return writeRevision(tx, rev)
	})
	if err != nil {
		return s.wrap(err)
	}
	s.notify()
	return nil
}

func logChange(tx *bbolt.Tx, rev uint64, c changeRecord) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	k := revKey(rev)
	return tx.Bucket(bucketChanges).Put(k, seal(bucketChanges, k, data))
}

// notify wakes every watcher: the channel they wait on is closed and a new one takes its place.
func (s *Store) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) Changes(ctx context.Context, since uint64, limit int) ([]store.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var evs []store.Event
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketChanges).Cursor()
		for k, v := c.Seek(revKey(since + 1)); k != nil && (limit <= 0 || len(evs) < limit); k, v = c.Next() {
			p, err := unseal(bucketChanges, k, v)
			if err != nil {
				return err
			}
			var rec changeRecord
			if err := json.Unmarshal(p, &rec); err != nil {
				return fmt.Errorf("store: corrupt change %d: %w", binary.BigEndian.Uint64(k), err)
			}
			ev := store.Event{
				Revision: binary.BigEndian.Uint64(k), Time: rec.Time, Kind: rec.Kind, Key: rec.Key,
				Action: rec.Action, Actor: rec.Actor,
			}
			if rec.Value != nil {
				ev.Value = bytes.Clone(rec.Value)
			}
			evs = append(evs, ev)
		}
		return nil
	})
	return evs, s.wrap(err)
}

// Watch reads the durable change log from fromRevision at the watcher's own pace, so a slow
// watcher never holds up a write and never misses an event.
func (s *Store) Watch(ctx context.Context, fromRevision uint64) (*store.Watch, error) {
	if fromRevision == 0 {
		fromRevision = 1
	}
	ch := make(chan store.Event, 256)
	var (
		errMu sync.Mutex
		werr  error
	)
	go func() {
		defer close(ch)
		next := fromRevision
		for {
			wake := s.wait()
			evs, err := s.Changes(ctx, next-1, 1024)
			if err != nil {
				if ctx.Err() == nil {
					errMu.Lock()
					werr = err
					errMu.Unlock()
				}
				return
			}
			for _, ev := range evs {
				select {
				case ch <- ev:
					next = ev.Revision + 1
				case <-ctx.Done():
					return
				case <-s.done:
					errMu.Lock()
					werr = store.ErrClosed
					errMu.Unlock()
					return
				}
			}
			if len(evs) == 1024 {
				continue
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return
			case <-s.done:
				errMu.Lock()
				werr = store.ErrClosed
				errMu.Unlock()
				return
			}
		}
	}()
	return store.NewWatch(ch, func() error {
		errMu.Lock()
		defer errMu.Unlock()
		return werr
	}), nil
}

func (s *Store) wrap(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}
