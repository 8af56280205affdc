package routing

import (
	"math/rand/v2"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Snapshot is an immutable view of the configuration. The SIP path reads one from an atomic
// pointer per request and takes no lock; every method is safe for concurrent use.
//
// Make the first one with Build and the next ones with Update, which copies only what a batch of
// changes touches (see Update).
type Snapshot struct {
	revision       uint64
	opts           Options
	random         func() uint64
	local          map[string]struct{} // from Options: shared by every update
	routingFQDN    string
	serviceEnabled bool

	domains table[domainInfo]
	// Domain routes by the domain in usual order ("" for ".*"); see route.slot.
	patterns   table[patternPair]
	userExact  table[*pattern]
	userPrefix table[*pattern]
	// userPrefixCount counts user prefix patterns by length; userPrefixLens lists the lengths in
	// use, longest first, so that a decision looks up only prefixes that can match.
	userPrefixCount []int32
	userPrefixLens  []int
	routes          table[*route] // every route, in service or not, by id: what Update detaches
	peers           table[struct{}]
	// ignored are stored federated domains the snapshot leaves out, with why: a local domain or
	// localhost, which the API refuses today but an older store may hold. Copied on change.
	ignored map[string]string
}

// domainInfo is what the snapshot keeps of an api.FederatedDomain.
type domainInfo struct {
	description  string
	aol          bool
	direct       bool
	peerSubjects []string // sorted; empty: any TLS peer subject
}

func newSnapshot(opts Options) *Snapshot {
	opts.DefaultFederationRoutingDomain = normalizeName(or(opts.DefaultFederationRoutingDomain, api.DefaultFederationRoutingDomain))
	opts.NodeFQDN = normalizeName(opts.NodeFQDN)
	s := &Snapshot{opts: opts, random: opts.Random, local: make(map[string]struct{}, len(opts.LocalDomains))}
	if s.random == nil {
		s.random = rand.Uint64
	}
	for _, d := range opts.LocalDomains {
		s.local[normalizeName(d)] = struct{}{}
	}
	return s
}

// Revision is the store revision the snapshot was built at.
func (s *Snapshot) Revision() uint64 { return s.revision }

// Domain returns the federated domain of that name (case-insensitive), in the form the store
// keeps it (IncomingACL, a derived field, is left empty).
func (s *Snapshot) Domain(name string) (api.FederatedDomain, bool) {
	name = normalizeName(name)
	d, ok := s.domains.get(name)
	if !ok {
		return api.FederatedDomain{}, false
	}
	typ := api.DomainTypeLync
	if d.aol {
		typ = api.DomainTypeAOL
	}
	return api.FederatedDomain{Domain: name, Description: d.description, Type: typ, DirectFederation: d.direct,
		PeerSubjects: d.peerSubjects}, true
}

// DomainPeerSubjects returns the peer_subjects of a federated domain (sorted, shared: do not
// modify) and whether the domain is federated. An empty list means any TLS peer subject.
func (s *Snapshot) DomainPeerSubjects(name string) ([]string, bool) {
	d, ok := s.domains.get(normalizeName(name))
	return d.peerSubjects, ok
}

// Ignored returns the stored federated domains this snapshot leaves out, each with the reason.
func (s *Snapshot) Ignored() map[string]string { return s.ignored }

// Counts returns how many federated domains, static routes (in service or not) and TLS peer
// subjects the snapshot holds.
func (s *Snapshot) Counts() (domains, routes, peerSubjects int) {
	return s.domains.len(), s.routes.len(), s.peers.len()
}

// IsLocal reports whether the enterprise hosts the domain.
func (s *Snapshot) IsLocal(domain string) bool {
	_, ok := s.local[normalizeName(domain)]
	return ok
}

// IsPeerSubject reports whether a certificate identity is a TLS peer subject (whole name,
// case-insensitive).
func (s *Snapshot) IsPeerSubject(identity string) bool {
	_, ok := s.peers.get(lower(identity))
	return ok
}

// RoutingFQDN is the federation routing FQDN: the stored one, else the node's FQDN.
func (s *Snapshot) RoutingFQDN() string { return s.routingFQDN }

// NodeFQDN is the node's own FQDN.
func (s *Snapshot) NodeFQDN() string { return s.opts.NodeFQDN }

// RecordRouteHost is the host the proxy puts in Record-Route toward a partner domain: the
// federation routing FQDN, or the node FQDN for a direct_federation domain.
func (s *Snapshot) RecordRouteHost(domain string) string {
	if d, ok := s.domains.get(normalizeName(domain)); ok && d.direct {
		return s.opts.NodeFQDN
	}
	return s.routingFQDN
}

// ServiceEnabled reports whether the federation service is on.
func (s *Snapshot) ServiceEnabled() bool { return s.serviceEnabled }

// DefaultFederationRoutingDomain is the clearing-house domain of AOL routing.
func (s *Snapshot) DefaultFederationRoutingDomain() string {
	return s.opts.DefaultFederationRoutingDomain
}
