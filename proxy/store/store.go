// Package store defines what the proxy needs from its configuration store: objects by kind and
// key, one global revision that every write increments, preconditions on that revision, an audit
// trail, and a watch from any revision. bbolt (package bolt) is the embedded default; a cluster
// backend plugs in behind the same interface without touching the admin API.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors every backend returns, so that the admin API maps them to one status each.
var (
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a create found the key taken (409).
	ErrExists = errors.New("store: already exists")
	// ErrRevisionMismatch: the object's revision is not the one the caller expected (412).
	ErrRevisionMismatch = errors.New("store: revision mismatch")
	// ErrCompacted: a watch asked for history the store no longer keeps; re-read and watch anew.
	ErrCompacted = errors.New("store: revision compacted")
	ErrClosed    = errors.New("store: closed")
	// ErrUnavailable: the store could not be reached and nothing was committed (503).
	ErrUnavailable = errors.New("store: unavailable")
	// ErrCommitUnknown: the write was sent but the store could not say whether it committed,
	// e.g. a commit that timed out (504 commit_unknown). Re-read before retrying.
	ErrCommitUnknown = errors.New("store: commit outcome unknown")
)

// Object is a stored value with its revisions.
type Object struct {
	Kind           string
	Key            string
	Value          []byte
	CreateRevision uint64
	ModRevision    uint64
}

// Cond is a write's precondition.
type Cond struct {
	// MustNotExist makes the write a create: ErrExists when the key is present.
	MustNotExist bool
	// MustExist makes the write an update: ErrNotFound when the key is absent.
	MustExist bool
	// ModRevision, when not 0, must equal the object's ModRevision (If-Match): else
	// ErrRevisionMismatch.
	ModRevision uint64
}

// Event is one committed change, in revision order. Value is the object after the change; nil for
// a delete.
type Event struct {
	Revision uint64
	Time     time.Time
	Kind     string
	Key      string
	Action   string // api.ActionCreate, ActionUpdate or ActionDelete
	Actor    string
	Value    []byte
	// OriginalRevision, in the audit trail, is the revision the change had in the store it was
	// copied from (`sipfed-proxy store copy`); 0 for a change made in this store.
	OriginalRevision uint64
	// Progress marks a watch event that changes nothing: the store's revision moved to Revision
	// without a configuration change (a backend whose revisions also count writes of records
	// that are not configuration, e.g. etcd). A watcher applies it by moving its revision, so
	// that whoever waits for Revision is not left waiting for an event that never comes. Kind,
	// Key and Action are empty.
	Progress bool
}

// Op is one change of a Txn: a put, or a delete when Delete is set, under Cond.
//
// A side op (Side set) writes a record that is not configuration: it commits atomically with the
// rest of the Txn, but it has no revision of its own, no audit entry, no watch event, and ListAll
// does not return it. Idempotency keys and the route-marker key are side records. A side record
// with a TTL is dropped some time after TTL has passed (never before); Get no longer returns it
// once TTL has passed.
type Op struct {
	Kind   string
	Key    string
	Value  []byte
	Delete bool
	Cond   Cond
	Side   bool
	TTL    time.Duration
}

// TxnResult is what a committed Txn did: Revision is the highest revision it wrote (the store's
// revision after it; unchanged when it wrote only side records), and Objects holds, per op in
// order, the object as written (for a delete, only Kind, Key and ModRevision, the delete's
// revision). A side record's ModRevision is the Txn's Revision.
type TxnResult struct {
	Revision uint64
	Objects  []Object
}

// CondError says which op of a Txn failed its condition; Err is ErrExists, ErrNotFound or
// ErrRevisionMismatch, so errors.Is sees through it.
type CondError struct {
	Index int
	Err   error
}

func (e *CondError) Error() string { return e.Err.Error() }
func (e *CondError) Unwrap() error { return e.Err }

// Txner commits transactions; PutOne and DeleteOne build a backend's Put and Delete on it.
type Txner interface {
	Txn(ctx context.Context, ops []Op, actor string) (TxnResult, error)
}

// PutOne is Put as a transaction of one op. Its condition's error comes back bare (ErrExists,
// not a *CondError): single-op callers test for it with ==.
func PutOne(ctx context.Context, t Txner, kind, key string, value []byte, cond Cond, actor string) (Object, error) {
	res, err := t.Txn(ctx, []Op{{Kind: kind, Key: key, Value: value, Cond: cond}}, actor)
	if err != nil {
		return Object{}, unwrapCond(err)
	}
	return res.Objects[0], nil
}

// DeleteOne is Delete as a transaction of one op, its condition's error bare as in PutOne.
func DeleteOne(ctx context.Context, t Txner, kind, key string, cond Cond, actor string) (uint64, error) {
	res, err := t.Txn(ctx, []Op{{Kind: kind, Key: key, Delete: true, Cond: cond}}, actor)
	if err != nil {
		return 0, unwrapCond(err)
	}
	return res.Revision, nil
}

func unwrapCond(err error) error {
	var ce *CondError
	if errors.As(err, &ce) {
		return ce.Err
	}
	return err
}

// Store is a revisioned key-value store of configuration objects. A write returns only after it is
// durable.
type Store interface {
	Get(ctx context.Context, kind, key string) (Object, error)
	// List returns every object of a kind, ordered by key, and the revision it was read at.
	List(ctx context.Context, kind string) ([]Object, uint64, error)
	// ListAll returns every object of every kind, read at one revision, and that revision: the
	// consistent starting point of a watch.
	ListAll(ctx context.Context) ([]Object, uint64, error)
	Put(ctx context.Context, kind, key string, value []byte, cond Cond, actor string) (Object, error)
	// Delete removes a key; it returns the revision of the delete.
	Delete(ctx context.Context, kind, key string, cond Cond, actor string) (uint64, error)
	// Txn commits ops atomically, all or none. Every configuration op gets a revision above the
	// store's current one: a backend may give them all one revision (etcd) or number them in op
	// order (bbolt); either way the audit trail and the watch show one event per op. Every
	// condition is checked before anything is written, and the first op whose condition fails
	// is named in a *CondError. Get reads side records too.
	Txn(ctx context.Context, ops []Op, actor string) (TxnResult, error)
	// Revision is the revision of the last committed write (0 for an empty store).
	Revision(ctx context.Context) (uint64, error)
	// Changes returns up to limit events with a revision greater than since, oldest first.
	Changes(ctx context.Context, since uint64, limit int) ([]Event, error)
	// Watch streams every event from fromRevision on, history first, until ctx ends. The channel
	// closes when the watch ends; Err on the returned Watch says why.
	Watch(ctx context.Context, fromRevision uint64) (*Watch, error)
	Close() error
}

// Backuper is a store that can copy itself while it serves: the admin API's backup endpoint
// streams the copy. A backend without a file of its own (etcd has its own snapshots) need not be
// one.
type Backuper interface {
	// Backup writes a consistent copy of the whole store, as of one revision, to w. begin is
	// called once before the first byte with the copy's size in bytes and its revision.
	Backup(ctx context.Context, w io.Writer, begin func(size int64, revision uint64)) (int64, error)
}

// Watch is a running watch.
type Watch struct {
	C   <-chan Event
	err func() error
}

// NewWatch is for backends: err reports why C closed.
func NewWatch(c <-chan Event, err func() error) *Watch { return &Watch{C: c, err: err} }

// Err is the reason the watch ended, once C is closed: nil when its context ended.
func (w *Watch) Err() error { return w.err() }
