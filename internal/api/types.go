// Package api is the one contract between sipfed-proxy and terraform-provider-sip: the wire types
// of the admin API, the rules that make a value valid, and a typed client. JSON field names are the
// Terraform attribute names, so a field is named once, from the store to the plan.
package api

import "time"

// Domain types of a federated domain (the reference's "Inter-domain to Lync/S4B" and "to AOL").
const (
	DomainTypeLync = "lync"
	DomainTypeAOL  = "aol"
)

// Transport protocols of a static route.
const (
	ProtocolTLS = "tls"
	ProtocolTCP = "tcp"
	ProtocolUDP = "udp"
)

// Route types of a static route: match the Request-URI's domain or its user part.
const (
	RouteTypeDomain = "domain"
	RouteTypeUser   = "user"
)

// Defaults the API applies to fields a request leaves out. The provider uses the same values as
// its schema defaults, so a plan never disagrees with what the proxy stores.
const (
	DefaultDomainType                    = DomainTypeLync
	DefaultNextHopPort                   = 5061
	DefaultProtocol                      = ProtocolTLS
	DefaultRouteType                     = RouteTypeDomain
	DefaultPriority                      = 1
	DefaultWeight                        = 10
	DefaultAllowLessSpecific             = true
	DefaultInService                     = true
	DefaultFederationRoutingDomain       = "aol.com"
	MaxDescriptionLength                 = 255
	MaxBodyBytes                   int64 = 1 << 20
)

// Header names of the admin API.
const (
	HeaderRevision = "X-Sipfed-Revision"
	HeaderETag     = "ETag"
	HeaderIfMatch  = "If-Match"
	// HeaderIdempotencyKey makes a POST safe to repeat (IETF httpapi idempotency-key draft).
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed marks the stored first answer to a repeated Idempotency-Key.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// HeaderLive is set to LivePending on a 2xx write that is durable but not yet live in
	// routing; without it, a 2xx write is live.
	HeaderLive  = "Sipfed-Live"
	LivePending = "pending"
)

// FederatedDomain is a partner domain that local users may exchange SIP with. Creating one creates
// its incoming ACL; the ACL is read-only and goes away with the domain.
type FederatedDomain struct {
	Domain           string `json:"domain"`
	Description      string `json:"description"`
	Type             string `json:"type,omitempty"`
	DirectFederation bool   `json:"direct_federation"`
	// PeerSubjects, when set, are the only TLS peer subjects that may send for this domain and
	// receive its traffic: a partner edge's certificate must present one of them. Each must be
	// a TLS peer subject. Stored lower-cased, without duplicates, sorted. Empty: any TLS peer
	// subject.
	PeerSubjects []string `json:"peer_subjects,omitempty"`
	// IncomingACL is the allow pattern this domain creates for inbound traffic. Read-only.
	IncomingACL string `json:"incoming_acl,omitempty"`
}

// NewFederatedDomain returns a domain with the API's defaults; decoding a request over it leaves
// the defaults in place for fields the request omits.
func NewFederatedDomain() FederatedDomain {
	return FederatedDomain{Type: DefaultDomainType}
}

// IncomingACL is the allow entry a federated domain creates for inbound traffic from it.
type IncomingACL struct {
	Pattern     string `json:"pattern"`
	Domain      string `json:"domain"`
	Description string `json:"description"`
}

// ACLFor derives the incoming ACL of a federated domain: it lives and dies with the domain, so it
// is computed, never stored.
func ACLFor(d FederatedDomain) IncomingACL {
	return IncomingACL{
		Pattern:     d.Domain,
		Domain:      d.Domain,
		Description: "Federation ACL for " + d.Domain,
	}
}

// StaticRoute is a hand-made route toward a partner's edge, for partners that DNS SRV cannot find.
type StaticRoute struct {
	// ID is assigned by the server on create and never changes.
	ID                 string `json:"id,omitempty"`
	DestinationPattern string `json:"destination_pattern"`
	NextHop            string `json:"next_hop"`
	NextHopPort        int    `json:"next_hop_port"`
	Protocol           string `json:"protocol"`
	RouteType          string `json:"route_type"`
	Priority           int    `json:"priority"`
	Weight             int    `json:"weight"`
	AllowLessSpecific  bool   `json:"allow_less_specific"`
	InService          bool   `json:"in_service"`
	Block              bool   `json:"block"`
	Description        string `json:"description"`
}

// NewStaticRoute returns a route with the API's defaults (see NewFederatedDomain).
func NewStaticRoute() StaticRoute {
	return StaticRoute{
		NextHopPort:       DefaultNextHopPort,
		Protocol:          DefaultProtocol,
		RouteType:         DefaultRouteType,
		Priority:          DefaultPriority,
		Weight:            DefaultWeight,
		AllowLessSpecific: DefaultAllowLessSpecific,
		InService:         DefaultInService,
	}
}

// TLSPeerSubject is a certificate identity the proxy accepts from a partner's edge, inbound and
// outbound.
type TLSPeerSubject struct {
	Subject     string `json:"subject"`
	Description string `json:"description"`
}

// FederationRoutingFQDN is the public name the proxy presents to partners. It must equal the target
// of the enterprise's own _sipfederationtls SRV records.
type FederationRoutingFQDN struct {
	FQDN string `json:"fqdn"`
	// NodeFQDN is the proxy node's own name, the value DELETE resets FQDN to. Read-only.
	NodeFQDN string `json:"node_fqdn,omitempty"`
}

// FederationService is the reference's "Cisco XCP SIP Federation Connection Manager" switch: while
// it is off, partner-bound and partner-originated requests get 503.
type FederationService struct {
	Enabled bool `json:"enabled"`
}

// Change actions.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// Kinds of stored objects, as they appear in the audit trail.
const (
	KindFederatedDomain       = "federated_domain"
	KindStaticRoute           = "static_route"
	KindTLSPeerSubject        = "tls_peer_subject"
	KindFederationRoutingFQDN = "federation_routing_fqdn"
	KindFederationService     = "federation_service"
)

// Change is one entry of the audit trail: who changed what, when.
type Change struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Key      string    `json:"key"`
	Action   string    `json:"action"`
	Actor    string    `json:"actor"`
	// OriginalRevision is the revision the change had in the store it was copied from
	// (`sipfed-proxy store copy`); absent for a change made in this store.
	OriginalRevision uint64 `json:"original_revision,omitempty"`
}

// List envelopes. Every list carries the revision it was read at.
type (
	FederatedDomainList struct {
		Revision uint64            `json:"revision"`
		Items    []FederatedDomain `json:"items"`
	}
	StaticRouteList struct {
		Revision uint64        `json:"revision"`
		Items    []StaticRoute `json:"items"`
	}
	TLSPeerSubjectList struct {
		Revision uint64           `json:"revision"`
		Items    []TLSPeerSubject `json:"items"`
	}
	IncomingACLList struct {
		Revision uint64        `json:"revision"`
		Items    []IncomingACL `json:"items"`
	}
	ChangeList struct {
		Revision uint64   `json:"revision"`
		Items    []Change `json:"items"`
	}
)

// Route explanation: what GET /v1/route answers for a URI. It lists every step of the routing
// chain that ran, what each found, and the next hops in the order the proxy tries them.
type RouteExplanation struct {
	URI    string `json:"uri"`
	User   string `json:"user"`
	Domain string `json:"domain"`
	// Status is the SIP status the proxy answers itself when it cannot forward (403, 404, 503);
	// 0 when it forwards to NextHops.
	Status int    `json:"status"`
	Reason string `json:"reason"`
	// RetryAfter is the Retry-After (seconds) of a 503: when DNS will be asked again after a
	// temporary failure (SERVFAIL, timeout, refusal). 0 otherwise.
	RetryAfter int            `json:"retry_after,omitempty"`
	Steps      []RouteStep    `json:"steps"`
	NextHops   []RouteNextHop `json:"next_hops"`
	Revision   uint64         `json:"revision"`
}

// Step names of the routing chain.
const (
	StepFederated = "federated"
	StepStatic    = "static"
	StepSRV       = "srv"
)

// Step outcomes.
const (
	OutcomeMatched  = "matched"
	OutcomeNone     = "none"
	OutcomeBlocked  = "blocked"
	OutcomeError    = "error"
	OutcomeSkipped  = "skipped"
	OutcomeRejected = "rejected"
)

// RouteStep is one step of the routing chain.
type RouteStep struct {
	// Step is federated, static or srv.
	Step string `json:"step"`
	// Domain is the domain this step looked up (the partner's, or the default federation routing
	// domain for AOL fallbacks).
	Domain  string `json:"domain"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
	// Pattern and RouteIDs: the static route pattern that matched, and its routes in order.
	Pattern  string   `json:"pattern,omitempty"`
	RouteIDs []string `json:"route_ids,omitempty"`
	// SRV records DNS returned, in the order they are tried.
	SRVRecords []SRVRecord `json:"srv_records,omitempty"`
	// DNS rcode or error text when DNS did not answer with records (NXDOMAIN, SERVFAIL, timeout).
	DNSError string `json:"dns_error,omitempty"`
	Cached   bool   `json:"cached,omitempty"`
}

// SRVRecord is one SRV answer with the addresses its target resolved to.
type SRVRecord struct {
	Priority  int      `json:"priority"`
	Weight    int      `json:"weight"`
	Port      int      `json:"port"`
	Target    string   `json:"target"`
	Addresses []string `json:"addresses"`
}

// RouteNextHop is one destination the proxy will try, in order.
type RouteNextHop struct {
	Address   string `json:"address"`
	Port      int    `json:"port"`
	Transport string `json:"transport"`
	// Host is the name the next hop was found under (route next_hop or SRV target), the name the
	// TLS handshake is made toward.
	Host    string `json:"host"`
	Step    string `json:"step"`
	RouteID string `json:"route_id,omitempty"`
}

// FederationSRVRecord is a _sipfederationtls._tcp record the enterprise must publish for a local
// domain so that partners find the proxy.
type FederationSRVRecord struct {
	Domain   string `json:"domain"`
	Name     string `json:"name"`
	Priority int    `json:"priority"`
	Weight   int    `json:"weight"`
	Port     int    `json:"port"`
	Target   string `json:"target"`
}

// Node describes the proxy node the API belongs to: what Terraform needs to compute the SRV
// records to publish.
type Node struct {
	NodeFQDN                       string   `json:"node_fqdn"`
	FederationRoutingFQDN          string   `json:"federation_routing_fqdn"`
	LocalDomains                   []string `json:"local_domains"`
	ExternalPort                   int      `json:"external_port"`
	DefaultFederationRoutingDomain string   `json:"default_federation_routing_domain"`
	Revision                       uint64   `json:"revision"`
}
