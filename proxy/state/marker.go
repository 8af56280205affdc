package state

// The route-marker key is the deployment's secret from which the proxy derives the marker of its
// own Route entries (DESIGN.md, the edge): the same on every node of a cluster and across
// restarts, so any node recognises any node's Record-Route entries, and never guessable by a
// partner. The server makes it on first start (proxy/server, deploymentKey) as a side record: no
// revision, no audit entry, no watch event, and no API path reads it. `store copy` moves it into a
// cluster under these names.
const (
	KindDeployment = "deployment"
	KeyRouteMarker = "route-marker-key"
)
