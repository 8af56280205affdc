package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// Changes returns the audit trail after revision since, oldest first: up to limit entries (all
// when limit <= 0), in whole writes. All changes of one Txn share its revision, so a page that
// ended inside a write would make the next page (since = the last revision seen) skip the rest
// of it: a page ends before such a write, or, when that write alone is larger than limit, holds
// just that write whole.
func (s *Store) Changes(ctx context.Context, since uint64, limit int) ([]store.Event, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	// Writes after since are those in groups M >= since, plus maybe the last group below since:
	// group M's revision is above M, and at most the next group's M.
	start := s.k.auditGroup(since)
	last, err := s.cli.Get(cctx, s.k.audit(), clientv3.WithRange(start), clientv3.WithLimit(1),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	at := last.Header.Revision
	if len(last.Kvs) == 1 && uint64(last.Kvs[0].ModRevision) > since {
		m, _ := s.k.auditGroupOf(string(last.Kvs[0].Key))
		start = s.k.auditGroup(m)
	}
	end := clientv3.GetPrefixRangeEnd(s.k.audit())
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithRev(at)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)+1))
	}
	page, err := s.cli.Get(cctx, start, opts...)
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	kvs := page.Kvs
	if limit > 0 && len(kvs) > limit {
		cut := limit
		for cut > 0 && kvs[cut].ModRevision == kvs[cut-1].ModRevision {
			cut--
		}
		if cut > 0 {
			kvs = kvs[:cut]
		} else {
			// One write larger than a page: return it whole.
			m, _ := s.k.auditGroupOf(string(kvs[0].Key))
			whole, err := s.cli.Get(cctx, s.k.auditGroup(m), clientv3.WithPrefix(), clientv3.WithRev(at))
			if err != nil {
				return nil, s.unavailable(ctx, err)
			}
			kvs = whole.Kvs
		}
	}
	evs := make([]store.Event, 0, len(kvs))
	for _, kv := range kvs {
		ev, err := decodeAudit(kv)
		if err != nil {
			return nil, err
		}
		if ev.Revision > since {
			evs = append(evs, ev)
		}
	}
	return evs, nil
}

func decodeAudit(kv *mvccpb.KeyValue) (store.Event, error) {
	var a auditRecord
	if err := json.Unmarshal(kv.Value, &a); err != nil {
		return store.Event{}, fmt.Errorf("store: corrupt audit entry %s: %w", kv.Key, err)
	}
	ev := store.Event{Revision: uint64(kv.ModRevision), Time: a.Time, Kind: a.Kind, Key: a.Key,
		Action: a.Action, Actor: a.Actor, OriginalRevision: a.OriginalRevision}
	if a.Value != nil {
		ev.Value = bytes.Clone(a.Value)
	}
	return ev, nil
}

// importBatch is how many copied audit entries go into one etcd transaction.
const importBatch = 100

// ImportAudit appends changes copied from another store to the audit trail, oldest first, each
// keeping its time, actor and value, with its revision there as OriginalRevision: `store copy`
// brings a single node's history into a cluster before its objects. Each batch is one write at a
// revision of this store, so paging the trail by revision stays exact.
func (s *Store) ImportAudit(ctx context.Context, evs []store.Event) error {
	for len(evs) > 0 {
		n := min(len(evs), importBatch)
		recs := make([]auditRecord, n)
		for i, ev := range evs[:n] {
			orig := ev.OriginalRevision
			if orig == 0 {
				orig = ev.Revision
			}
			recs[i] = auditRecord{Time: ev.Time, Kind: ev.Kind, Key: ev.Key, Action: ev.Action, Actor: ev.Actor,
				Value: ev.Value, OriginalRevision: orig}
		}
		if _, err := s.commit(ctx, nil, "", recs); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}
