package state

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// The route-marker key is the deployment's secret from which the proxy derives the marker of its
// own Route entries (DESIGN.md, the edge): the same on every node of a cluster and across
// restarts, so any node recognises any node's Record-Route entries, and never guessable by a
// partner. It is a side record: no revision, no audit entry, no watch event, and no API path
// reads it.
const (
	KindDeployment = "deployment"
	KeyRouteMarker = "route-marker-key"
	// routeMarkerKeyBytes is 256 bits.
	routeMarkerKeyBytes = 32
)

// RouteMarkerKey returns the deployment's route-marker key, creating it when the store has none.
// Whichever node starts first creates it, as a create: nodes starting at once agree on the one
// that committed, and every later start reads it.
func RouteMarkerKey(ctx context.Context, st store.Store) ([]byte, error) {
	for range 3 {
		o, err := st.Get(ctx, KindDeployment, KeyRouteMarker)
		if err == nil {
			if len(o.Value) < routeMarkerKeyBytes {
				return nil, fmt.Errorf("the stored route-marker key is %d bytes, want %d", len(o.Value), routeMarkerKeyBytes)
			}
			return o.Value, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("reading the route-marker key: %w", err)
		}
		key := make([]byte, routeMarkerKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		_, err = st.Txn(ctx, []store.Op{{Kind: KindDeployment, Key: KeyRouteMarker, Value: key, Side: true,
			Cond: store.Cond{MustNotExist: true}}}, "sipfed-proxy")
		switch {
		case err == nil:
			return key, nil
		case errors.Is(err, store.ErrExists):
			// Another node created it first: read theirs.
		default:
			return nil, fmt.Errorf("creating the route-marker key: %w", err)
		}
	}
	return nil, errors.New("the route-marker key was neither readable nor creatable")
}
