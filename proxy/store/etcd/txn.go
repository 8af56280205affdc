package etcd

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// maxTxnOps is etcd's default --max-txn-ops: the most operations one etcd transaction may hold.
const maxTxnOps = 128

// auditRecord is the stored form of an audit entry. Its revision is the entry's ModRevision.
type auditRecord struct {
	Txn              string          `json:"txn,omitempty"`
	Time             time.Time       `json:"time"`
	Kind             string          `json:"kind"`
	Key              string          `json:"key"`
	Action           string          `json:"action"`
	Actor            string          `json:"actor"`
	Value            json.RawMessage `json:"value,omitempty"`
	OriginalRevision uint64          `json:"original_revision,omitempty"`
}

// revRecord is the value of the revision key: which write moved it last.
type revRecord struct {
	Txn   string `json:"txn"`
	Fence bool   `json:"fence,omitempty"`
}

func (s *Store) Put(ctx context.Context, kind, key string, value []byte, cond store.Cond, actor string) (store.Object, error) {
	return store.PutOne(ctx, s, kind, key, value, cond, actor)
}

func (s *Store) Delete(ctx context.Context, kind, key string, cond store.Cond, actor string) (uint64, error) {
	return store.DeleteOne(ctx, s, kind, key, cond, actor)
}

// Txn commits ops in one etcd transaction: the objects, their audit entries, the side records and
// the revision key. Conditions are checked against one linearizable read, and the transaction
// commits only if nothing it read has changed since (the revision key for the configuration, each
// op's key for side records); when something has, it reads and checks again.
//
// Errors: store.ErrUnavailable when nothing was committed (etcd unreachable, or a write whose
// outcome was lost and then found not to have committed: see resolve); store.ErrCommitUnknown
// when a write was sent and its outcome could not be learnt.
func (s *Store) Txn(ctx context.Context, ops []store.Op, actor string) (store.TxnResult, error) {
	if len(ops) == 0 {
		return store.TxnResult{}, errors.New("store: empty transaction")
	}
	seen := map[string]bool{}
	nConfig := 0
	for _, op := range ops {
		k := s.opKey(op)
		if seen[k] {
			return store.TxnResult{}, fmt.Errorf("store: %s/%s appears twice in one transaction", op.Kind, op.Key)
		}
		seen[k] = true
		if !op.Side {
			nConfig++
		}
	}
	if n := 1 + len(ops) + nConfig; n > maxTxnOps {
		return store.TxnResult{}, fmt.Errorf("store: a transaction of %d ops is more than etcd takes in one (at most %d configuration ops)", len(ops), (maxTxnOps-1)/2)
	}
	return s.commit(ctx, ops, actor, nil)
}

func (s *Store) opKey(op store.Op) string {
	if op.Side {
		return s.k.side(op.Kind, op.Key)
	}
	return s.k.object(op.Kind, op.Key)
}

// readState is what a write attempt read: the configuration revision and, per op, the object it
// finds (nil when none, or when a side record expired) and the ModRevision of its key (0: absent).
type readState struct {
	m        uint64
	prev     []*store.Object
	observed []int64
}

func (s *Store) read(ctx context.Context, ops []store.Op) (readState, error) {
	resp, err := s.cli.Txn(ctx).Then(s.gets(ops)...).Commit()
	if err != nil {
		return readState{}, err
	}
	return s.readResponses(resp.Responses, ops)
}

// gets reads what a write depends on: the revision key and each op's key.
func (s *Store) gets(ops []store.Op) []clientv3.Op {
	gets := make([]clientv3.Op, 0, 1+len(ops))
	gets = append(gets, clientv3.OpGet(s.k.rev()))
	for _, op := range ops {
		gets = append(gets, clientv3.OpGet(s.opKey(op)))
	}
	return gets
}

func (s *Store) readResponses(resp []*etcdserverpb.ResponseOp, ops []store.Op) (readState, error) {
	st := readState{prev: make([]*store.Object, len(ops)), observed: make([]int64, len(ops))}
	if kvs := resp[0].GetResponseRange().Kvs; len(kvs) == 1 {
		st.m = rev(kvs[0])
	}
	now := s.now()
	for i, op := range ops {
		kvs := resp[1+i].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue
		}
		kv := kvs[0]
		st.observed[i] = kv.ModRevision
		if op.Side {
			o, live, err := decodeSide(op.Kind, op.Key, kv, now)
			if err != nil {
				return readState{}, err
			}
			if live {
				st.prev[i] = &o
			}
			continue
		}
		st.prev[i] = &store.Object{Kind: op.Kind, Key: op.Key, Value: kv.Value,
			CreateRevision: uint64(kv.CreateRevision), ModRevision: uint64(kv.ModRevision)}
	}
	return st, nil
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

// commit runs the write: ops, plus audit entries copied from another store (imported).
func (s *Store) commit(ctx context.Context, ops []store.Op, actor string, imported []auditRecord) (store.TxnResult, error) {
	if s.isClosed() {
		return store.TxnResult{}, store.ErrClosed
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	// One write at a time per node: writers of one node would only race each other for the
	// revision key; across nodes, the race is on and the loser retries.
	select {
	case s.writing <- struct{}{}:
		defer func() { <-s.writing }()
	case <-cctx.Done():
		return store.TxnResult{}, s.unavailable(ctx, fmt.Errorf("waiting for this node's previous writes: %w", cctx.Err()))
	}
	txnID := newTxnID()
	configWrite := len(imported) > 0
	for _, op := range ops {
		configWrite = configWrite || !op.Side
	}
	var (
		st readState
		// fresh: st is what the last attempt's failed compare read back, at its revision.
		fresh bool
	)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := cctx.Err(); err != nil {
				return store.TxnResult{}, s.unavailable(ctx, fmt.Errorf("no commit after %d attempts: %w", attempt, err))
			}
			// No backoff between rounds: each node has one write in flight, and every round of
			// the race for the revision key commits one of them, so it cannot livelock; a loser
			// that slept would only hand the next round to the node that just won.
		}
		if !fresh {
			var err error
			if st, err = s.read(cctx, ops); err != nil {
				return store.TxnResult{}, s.unavailable(ctx, err)
			}
		}
		fresh = false
		for i, op := range ops {
			if err := check(op, st.prev[i]); err != nil {
				return store.TxnResult{}, &store.CondError{Index: i, Err: err}
			}
		}
		txn, result, err := s.build(cctx, st, ops, actor, imported, txnID, configWrite)
		if err != nil {
			return store.TxnResult{}, s.unavailable(ctx, err)
		}
		resp, err := txn.Commit()
		if err != nil {
			if isRejected(err) {
				if errors.Is(err, rpctypes.ErrLeaseNotFound) {
					s.forgetLeases()
					continue
				}
				if errors.Is(err, rpctypes.ErrNoSpace) {
					return store.TxnResult{}, fmt.Errorf("%w: etcd is out of space (its quota alarm is raised: compact and defragment it): %v", store.ErrUnavailable, err)
				}
				return store.TxnResult{}, fmt.Errorf("store: etcd refused the write: %w", err)
			}
			committed, r, rerr := s.resolve(st.m, txnID, ops, configWrite)
			switch {
			case rerr != nil:
				s.metrics.lostWrites.WithLabelValues(outcomeUnknown).Inc()
				return store.TxnResult{}, fmt.Errorf("%w: the write to etcd failed (%v) and its outcome could not be read (%v)", store.ErrCommitUnknown, err, rerr)
			case committed:
				s.metrics.lostWrites.WithLabelValues(outcomeCommitted).Inc()
				return result(r), nil
			}
			s.metrics.lostWrites.WithLabelValues(outcomeNotCommitted).Inc()
			// Certainly not committed (and never will be): try again while time is left.
			s.cfg.Log.Debug("etcd write lost, not committed; retrying", telemetry.KeyError, err)
			continue
		}
		if !resp.Succeeded {
			s.metrics.conflicts.Inc()
			// Someone wrote first; the transaction read back what it depends on, so the next
			// attempt checks its conditions without another round trip.
			if next, err := s.readResponses(resp.Responses, ops); err == nil {
				st, fresh = next, true
			}
			continue
		}
		return result(uint64(resp.Header.Revision)), nil
	}
}

// build makes one attempt's etcd transaction, and the function that makes its result from the
// revision it commits at.
func (s *Store) build(ctx context.Context, st readState, ops []store.Op, actor string, imported []auditRecord,
	txnID string, configWrite bool) (clientv3.Txn, func(uint64) store.TxnResult, error) {
	cmps := make([]clientv3.Cmp, 0, 1+len(ops))
	cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.k.rev()), "=", int64(st.m)))
	thens := make([]clientv3.Op, 0, 1+2*len(ops)+len(imported))
	now := s.now().UTC()
	entry := 0
	for i, op := range ops {
		key := s.opKey(op)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", st.observed[i]))
		if op.Side {
			if op.Delete {
				thens = append(thens, clientv3.OpDelete(key))
				continue
			}
			rec := sideRecord{Value: op.Value, Txn: txnID}
			if !configWrite {
				rec.Revision = st.m
			}
			var opts []clientv3.OpOption
			if op.TTL > 0 {
				rec.Expires = now.Add(op.TTL).UnixNano()
				lease, err := s.leaseFor(ctx, op.TTL)
				if err != nil {
					return nil, nil, err
				}
				opts = append(opts, clientv3.WithLease(lease))
			}
			b, err := json.Marshal(rec)
			if err != nil {
				return nil, nil, err
			}
			thens = append(thens, clientv3.OpPut(key, string(b), opts...))
			continue
		}
		a := auditRecord{Txn: txnID, Time: now, Kind: op.Kind, Key: op.Key, Actor: actor}
		switch {
		case op.Delete:
			a.Action = api.ActionDelete
			thens = append(thens, clientv3.OpDelete(key))
		default:
			a.Action, a.Value = api.ActionCreate, op.Value
			if st.prev[i] != nil {
				a.Action = api.ActionUpdate
			}
			thens = append(thens, clientv3.OpPut(key, string(op.Value)))
		}
		b, err := json.Marshal(a)
		if err != nil {
			return nil, nil, fmt.Errorf("store: audit entry of %s/%s: %w", op.Kind, op.Key, err)
		}
		thens = append(thens, clientv3.OpPut(s.k.auditEntry(st.m, entry), string(b)))
		entry++
	}
	for _, a := range imported {
		a.Txn = txnID
		b, err := json.Marshal(a)
		if err != nil {
			return nil, nil, err
		}
		thens = append(thens, clientv3.OpPut(s.k.auditEntry(st.m, entry), string(b)))
		entry++
	}
	if configWrite {
		b, _ := json.Marshal(revRecord{Txn: txnID})
		thens = append(thens, clientv3.OpPut(s.k.rev(), string(b)))
	}
	result := func(r uint64) store.TxnResult {
		if !configWrite {
			r = st.m
		}
		res := store.TxnResult{Revision: r, Objects: make([]store.Object, len(ops))}
		for i, op := range ops {
			o := store.Object{Kind: op.Kind, Key: op.Key, ModRevision: r}
			if !op.Delete {
				o.Value, o.CreateRevision = op.Value, r
				if st.prev[i] != nil && !op.Side {
					o.CreateRevision = st.prev[i].CreateRevision
				}
			}
			res.Objects[i] = o
		}
		return res
	}
	return s.cli.Txn(ctx).If(cmps...).Then(thens...).Else(s.gets(ops)...), result, nil
}

// resolve finds out whether a write whose answer was lost committed, with a fresh deadline.
//
// A configuration write compared the revision key with m, so it is the one write that can follow
// m: either its first audit entry sits at audit/<m>/00000 (committed, at that entry's revision),
// or another write's does (it never will), or nothing has followed m yet. In that last case a
// fence moves the revision key past m, so that the lost write, still in flight, can no longer
// commit: the answer is then certain. A write of side records only is found by its records.
func (s *Store) resolve(m uint64, txnID string, ops []store.Op, configWrite bool) (committed bool, r uint64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	if configWrite {
		fence, _ := json.Marshal(revRecord{Txn: txnID, Fence: true})
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.k.rev()), "=", int64(m))).
			Then(clientv3.OpPut(s.k.rev(), string(fence))).
			Else(clientv3.OpGet(s.k.auditEntry(m, 0))).
			Commit()
		if err != nil {
			return false, 0, err
		}
		if resp.Succeeded {
			return false, 0, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 1 && auditTxn(kvs[0]) == txnID {
			return true, uint64(kvs[0].ModRevision), nil
		}
		return false, 0, nil
	}
	gets := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		gets[i] = clientv3.OpGet(s.opKey(op))
	}
	resp, err := s.cli.Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return false, 0, err
	}
	for i, op := range ops {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		ours := false
		if op.Delete {
			ours = len(kvs) == 0
		} else {
			ours = len(kvs) == 1 && sideTxn(kvs[0]) == txnID
		}
		if !ours {
			// Not committed yet, overwritten since, or never: no way to tell.
			return false, 0, errors.New("the side records do not show the write")
		}
	}
	return true, m, nil
}

func auditTxn(kv *mvccpb.KeyValue) string {
	var a auditRecord
	if json.Unmarshal(kv.Value, &a) != nil {
		return ""
	}
	return a.Txn
}

func newTxnID() string {
	var b [12]byte
	_, _ = cryptorand.Read(b[:])
	return hex.EncodeToString(b[:])
}
