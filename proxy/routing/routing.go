// Package routing decides where a SIP request goes: a pure function of an immutable snapshot of
// the configuration, the request's facts and DNS answers. It does no I/O of its own; DNS comes
// through the DNS interface, which package discovery implements, so that the relay and the explain
// endpoint run one and the same chain.
package routing

import (
	"context"
	"net/netip"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Options are the node's own settings, from the command line.
type Options struct {
	LocalDomains                   []string
	NodeFQDN                       string
	DefaultFederationRoutingDomain string // empty: api.DefaultFederationRoutingDomain
	// Random returns uniformly distributed numbers for the weight-random (RFC 2782) ordering. It is
	// called concurrently by every decision. nil: math/rand/v2's Uint64, which takes no lock and
	// does not allocate; tests inject a fixed sequence to make orders deterministic.
	Random func() uint64
}

// Config is the stored configuration a snapshot is built from. Build copies what it needs: the
// caller may change Config afterwards.
type Config struct {
	Revision       uint64
	Domains        map[string]api.FederatedDomain
	Routes         map[string]api.StaticRoute
	PeerSubjects   map[string]api.TLSPeerSubject
	RoutingFQDN    string // empty: the node FQDN
	ServiceEnabled bool
}

// Request holds the facts of a request that routing looks at.
type Request struct {
	User   string
	Domain string
}

// NextHop is one destination to try, in order.
type NextHop struct {
	Addr      netip.AddrPort
	Transport string // api.ProtocolTLS, api.ProtocolTCP or api.ProtocolUDP
	// Host is the name the hop was found under (a route's next_hop or an SRV target); an IP
	// literal when the route names one.
	Host    string
	Step    string // api.StepStatic or api.StepSRV
	RouteID string
}

// SRVRecord is one answer of a _sipfederationtls._tcp lookup, with its target's addresses.
type SRVRecord struct {
	Priority uint16
	Weight   uint16
	Port     uint16
	Target   string
	Addrs    []netip.Addr
}

// SRVAnswer is the answer of a _sipfederationtls._tcp.<domain> lookup. Records are as DNS gave
// them: ordering them (RFC 2782) is routing's job.
type SRVAnswer struct {
	Records []SRVRecord
	TTL     time.Duration
	Cached  bool
}

// AddrAnswer is the A/AAAA answer for a host name.
type AddrAnswer struct {
	Addrs  []netip.Addr
	TTL    time.Duration
	Cached bool
}

// DNS is what routing needs from DNS. An error (NXDOMAIN, SERVFAIL, timeout) moves the chain on;
// the explanation names it (see DNSError). Answers are shared with a cache: callers must not
// modify them.
type DNS interface {
	LookupSRV(ctx context.Context, domain string) (SRVAnswer, error)
	LookupAddrs(ctx context.Context, host string) (AddrAnswer, error)
}
