package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// sideRecord is the stored form of a side record.
type sideRecord struct {
	Value []byte `json:"value"`
	// Expires is when the record stops being readable (Unix nanoseconds; 0: never). The lease
	// that deletes it runs longer, so Get checks this rather than trust the lease's timing.
	Expires int64 `json:"expires,omitempty"`
	// Revision is the record's revision when it was written by a Txn without configuration ops:
	// the configuration revision then, as the store.Op contract has it. 0: the etcd revision of
	// the write, which is the revision of the configuration ops written with it.
	Revision uint64 `json:"revision,omitempty"`
	// Txn names the write, so that a write whose outcome was lost can find out whether it
	// committed.
	Txn string `json:"txn"`
}

func decodeSide(kind, key string, kv *mvccpb.KeyValue, now time.Time) (o store.Object, live bool, err error) {
	var rec sideRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return store.Object{}, false, fmt.Errorf("store: corrupt side record %s/%s: %w", kind, key, err)
	}
	r := rec.Revision
	if r == 0 {
		r = uint64(kv.ModRevision)
	}
	o = store.Object{Kind: kind, Key: key, Value: rec.Value, CreateRevision: r, ModRevision: r}
	return o, rec.Expires == 0 || now.UnixNano() < rec.Expires, nil
}

func sideTxn(kv *mvccpb.KeyValue) string {
	var rec sideRecord
	if json.Unmarshal(kv.Value, &rec) != nil {
		return ""
	}
	return rec.Txn
}

// leaseCache hands out leases for side records with a TTL. A lease per record would cost a
// grant per write and one lease per idempotency key; instead records whose expiry falls within
// one window share a lease that outlives them all: a record is dropped some time after its TTL,
// never before.
type leaseCache struct {
	mu     sync.Mutex
	leases map[time.Duration]cachedLease
}

type cachedLease struct {
	id clientv3.LeaseID
	// usableUntil: a record written before then with this TTL expires before the lease does.
	usableUntil time.Time
}

// leaseSlack is how much longer than a TTL a shared lease lives: the window of writes that share
// it. At least a minute (etcd's minimum TTL is seconds), at most a quarter of the TTL on top.
func leaseSlack(ttl time.Duration) time.Duration {
	return max(ttl/4, time.Minute)
}

// leaseFor returns a lease that outlives now+ttl.
func (s *Store) leaseFor(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	ttl = ttl.Round(time.Second)
	if ttl < time.Second {
		ttl = time.Second
	}
	now := s.now()
	s.leases.mu.Lock()
	l, ok := s.leases.leases[ttl]
	s.leases.mu.Unlock()
	if ok && now.Before(l.usableUntil) {
		return l.id, nil
	}
	slack := leaseSlack(ttl)
	// The lease's clock starts when etcd grants it, after now: measured from now, it is on the
	// safe side.
	resp, err := s.cli.Grant(ctx, int64((ttl+slack)/time.Second))
	if err != nil {
		return 0, err
	}
	s.leases.mu.Lock()
	if s.leases.leases == nil {
		s.leases.leases = map[time.Duration]cachedLease{}
	}
	s.leases.leases[ttl] = cachedLease{id: resp.ID, usableUntil: now.Add(slack)}
	s.leases.mu.Unlock()
	return resp.ID, nil
}

// forgetLeases drops cached leases, after etcd said one is gone (e.g. etcd restored from an old
// snapshot).
func (s *Store) forgetLeases() {
	s.leases.mu.Lock()
	s.leases.leases = nil
	s.leases.mu.Unlock()
}
