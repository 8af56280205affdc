// Package store defines what the proxy needs from its configuration store: objects by kind and
// key, one global revision that every write increments, preconditions on that revision, an audit
// trail, and a watch from any revision. bbolt (package bolt) is the embedded default; a cluster
// backend plugs in behind the same interface without touching the admin API.
package store

import (
	"context"
	"errors"
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
	// Revision is the revision of the last committed write (0 for an empty store).
	Revision(ctx context.Context) (uint64, error)
	// Changes returns up to limit events with a revision greater than since, oldest first.
	Changes(ctx context.Context, since uint64, limit int) ([]Event, error)
	// Watch streams every event from fromRevision on, history first, until ctx ends. The channel
	// closes when the watch ends; Err on the returned Watch says why.
	Watch(ctx context.Context, fromRevision uint64) (*Watch, error)
	Close() error
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
