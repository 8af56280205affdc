package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/topology"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// The deployment key is a side record: in the store, so that it survives restarts and every
// node of a cluster shares it, but never configuration (no audit entry, no API).
const (
	deploymentKind = "deployment"
	deploymentName = "route-marker-key"
)

// deploymentKey loads the deployment's key, making it on first start. Two nodes starting at once
// race on a create-only write; the loser reads the winner's key.
func deploymentKey(ctx context.Context, st store.Store) ([]byte, error) {
	for range 2 {
		o, err := st.Get(ctx, deploymentKind, deploymentName)
		if err == nil {
			if len(o.Value) != topology.KeySize {
				return nil, fmt.Errorf("store: the deployment key has %d bytes, want %d", len(o.Value), topology.KeySize)
			}
			return o.Value, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("store: reading the deployment key: %w", err)
		}
		k, err := topology.NewKey()
		if err != nil {
			return nil, err
		}
		_, err = st.Txn(ctx, []store.Op{{Kind: deploymentKind, Key: deploymentName, Value: k, Side: true,
			Cond: store.Cond{MustNotExist: true}}}, "sipfed-proxy")
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("store: writing the deployment key: %w", err)
		}
	}
	return nil, errors.New("store: the deployment key could not be read or made")
}
