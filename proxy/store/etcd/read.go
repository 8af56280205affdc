package etcd

import (
	"bytes"
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// Reads are linearizable: a node cut off from etcd answers them with store.ErrUnavailable rather
// than with a configuration that may be stale (a Terraform plan against a stale read would be
// wrong). Routing does not read the store: it runs on the node's snapshot.

// Get reads an object, else a live side record of that kind and key.
func (s *Store) Get(ctx context.Context, kind, key string) (store.Object, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).Then(
		clientv3.OpGet(s.k.object(kind, key)),
		clientv3.OpGet(s.k.side(kind, key)),
	).Commit()
	if err != nil {
		return store.Object{}, s.unavailable(ctx, err)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		kv := kvs[0]
		return store.Object{Kind: kind, Key: key, Value: bytes.Clone(kv.Value),
			CreateRevision: uint64(kv.CreateRevision), ModRevision: uint64(kv.ModRevision)}, nil
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
		o, live, err := decodeSide(kind, key, kvs[0], s.now())
		if err != nil {
			return store.Object{}, err
		}
		if live {
			return o, nil
		}
	}
	return store.Object{}, store.ErrNotFound
}

// List reads every object of a kind, ordered by key, with the configuration revision.
func (s *Store) List(ctx context.Context, kind string) ([]store.Object, uint64, error) {
	return s.list(ctx, s.k.kind(kind))
}

// ListAll reads every object, with the configuration revision: the state at any later etcd
// revision up to the next configuration write is the same, and Watch(rev+1) starts from there
// even when that history has been compacted.
func (s *Store) ListAll(ctx context.Context) ([]store.Object, uint64, error) {
	return s.list(ctx, s.k.objects())
}

func (s *Store) list(ctx context.Context, prefix string) ([]store.Object, uint64, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).Then(
		clientv3.OpGet(s.k.rev()),
		clientv3.OpGet(prefix, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, 0, s.unavailable(ctx, err)
	}
	var revision uint64
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		revision = rev(kvs[0])
	}
	kvs := resp.Responses[1].GetResponseRange().Kvs
	objs := make([]store.Object, 0, len(kvs))
	for _, kv := range kvs {
		kind, key, ok := s.k.parseObject(string(kv.Key))
		if !ok {
			continue
		}
		objs = append(objs, store.Object{Kind: kind, Key: key, Value: kv.Value,
			CreateRevision: uint64(kv.CreateRevision), ModRevision: uint64(kv.ModRevision)})
	}
	return objs, revision, nil
}

// Revision is the configuration's revision: the etcd revision of the last configuration write.
func (s *Store) Revision(ctx context.Context) (uint64, error) {
	r, _, err := s.revisions(ctx)
	return r, err
}

// revisions reads the configuration revision and etcd's current revision.
func (s *Store) revisions(ctx context.Context) (config, head uint64, err error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, s.k.rev())
	if err != nil {
		return 0, 0, s.unavailable(ctx, err)
	}
	if len(resp.Kvs) == 1 {
		config = rev(resp.Kvs[0])
	}
	return config, uint64(resp.Header.Revision), nil
}

// Ping checks that etcd answers a linearizable read within the request timeout: what a write
// needs, short of the write.
func (s *Store) Ping(ctx context.Context) error {
	_, _, err := s.revisions(ctx)
	return err
}
