package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// Config is what the relay needs from the command line. Zero durations and limits take the
// defaults of packages core and transport.
type Config struct {
	// Internal are the listeners toward the enterprise's own servers (--sip-internal).
	Internal []Listener
	// External are the listeners toward partners (--sip-external); they must be tls.
	External []Listener
	// InternalNextHop is where requests from partners go (--internal-next-hop).
	InternalNextHop NextHop
	// TLS is the proxy's certificate, CA bundle and cipher settings (--tls-*). Required when a
	// listener or a route uses TLS; without it, TLS next hops fail over as unreachable.
	TLS *identity.Material
	// NodeFQDN is the node's own name (--node-fqdn): Via and Record-Route toward the internal side
	// use it when a listener is bound to a wildcard address.
	NodeFQDN string
	// DeploymentKey is the secret the proxy's own Route markers and topology encodings derive
	// from: the same on every node of a deployment, kept in the store.
	DeploymentKey []byte
	// ShowTopology turns topology hiding off: partners then see internal Vias, Record-Route
	// entries, Contacts and Call-IDs (--topology-hiding=false).
	ShowTopology bool
	// OwnAddrs are more addresses a request must never be sent to (the admin API).
	OwnAddrs []netip.AddrPort

	Registerer prometheus.Registerer // nil: metrics are kept but not registered
	Logger     *slog.Logger          // nil: slog.Default()

	// HopTimeout bounds the wait for a next hop's final response (for INVITE: its first
	// provisional one) before failing over to the next hop. RFC 3261's 32 s timer would make
	// failover useless.
	HopTimeout time.Duration
	// InviteTimeout bounds an INVITE branch after a provisional response (RFC 3261 Timer C).
	InviteTimeout time.Duration
	// MaxInFlight is the number of transactions without a final response past which new
	// requests get 503: shedding load keeps latency bounded instead of collapsing.
	MaxInFlight int
	// Overload tunes admission control (see package core).
	Overload core.OverloadConfig
	// HealthBackoff is how long a failed next hop is skipped before it is probed.
	HealthBackoff time.Duration
	// Limits bound what peers can make the proxy hold (see package transport).
	Limits transport.Limits
	// ShutdownTimeout bounds how long Run drains transactions in flight when ctx ends.
	ShutdownTimeout time.Duration
}

// DefaultShutdownTimeout is about RFC 3261's 64*T1: what a client waits for a final response.
const DefaultShutdownTimeout = 32 * time.Second

func (c *Config) setDefaults() {
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	if len(c.Internal) == 0 && len(c.External) == 0 {
		return errors.New("relay: no SIP listener (--sip-internal, --sip-external)")
	}
	var errs []error
	for _, l := range c.External {
		if l.Transport != api.ProtocolTLS {
			errs = append(errs, fmt.Errorf("--sip-external %s: partners are authenticated by mutual TLS, so external listeners must be tls://", l))
		}
	}
	for _, l := range append(append([]Listener(nil), c.Internal...), c.External...) {
		if l.Transport == api.ProtocolTLS && c.TLS == nil {
			errs = append(errs, fmt.Errorf("%s needs --tls-cert, --tls-key and --tls-ca", l))
		}
	}
	if len(c.External) > 0 && c.InternalNextHop.Host == "" {
		errs = append(errs, errors.New("--internal-next-hop is required with --sip-external: requests from partners go there"))
	}
	if c.InternalNextHop.Transport == api.ProtocolTLS && c.TLS == nil {
		errs = append(errs, errors.New("--internal-next-hop with transport=tls needs --tls-cert, --tls-key and --tls-ca"))
	}
	return errors.Join(errs...)
}

// Listener is a SIP listening address: transport udp, tcp or tls and host:port.
type Listener struct {
	Transport string // api.ProtocolUDP, api.ProtocolTCP or api.ProtocolTLS
	Addr      string // host:port; port 0 picks a free port
}

// String is the listener's URL form, e.g. tls://0.0.0.0:5061.
func (l Listener) String() string { return l.Transport + "://" + l.Addr }

// AddrPort is the listener's address; valid after New for bound listeners.
func (l Listener) AddrPort() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(l.Addr)
	return ap
}

// ParseListener parses a listener URL: udp://127.0.0.1:5060, tcp://[::1]:5060, tls://0.0.0.0:5061.
// A missing port is the transport's default (5060, or 5061 for tls).
func ParseListener(s string) (Listener, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Listener{}, fmt.Errorf("listener %q: want transport://host:port, e.g. tcp://127.0.0.1:5060", s)
	}
	t := strings.ToLower(scheme)
	if t != api.ProtocolUDP && t != api.ProtocolTCP && t != api.ProtocolTLS {
		return Listener{}, fmt.Errorf("listener %q: transport %q is not udp, tcp or tls", s, scheme)
	}
	rest = strings.TrimSuffix(rest, "/")
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		host, port = strings.Trim(rest, "[]"), strconv.Itoa(defaultPort(t))
	}
	if host == "" {
		host = "0.0.0.0"
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: bad port %q", s, port)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		// Names would bind to whatever they resolve to at start; an address says it plainly.
		return Listener{}, fmt.Errorf("listener %q: host must be an IP address", s)
	}
	return Listener{Transport: t, Addr: net.JoinHostPort(host, strconv.FormatUint(p, 10))}, nil
}

// NextHop is the internal next hop: where requests from partners are sent.
type NextHop struct {
	Host      string // IP literal or a name resolved through DNS per request
	Port      int
	Transport string // api.ProtocolUDP, api.ProtocolTCP or api.ProtocolTLS
}

// String is the next hop's SIP URI form.
func (h NextHop) String() string {
	if h.Host == "" {
		return ""
	}
	host := h.Host
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("sip:%s:%d;transport=%s", host, h.Port, h.Transport)
}

// ParseNextHop parses --internal-next-hop: a SIP URI such as sip:10.0.0.5:5060;transport=tcp.
// The transport defaults to udp (RFC 3261) and tls for sips:, the port to the transport's default.
func ParseNextHop(s string) (NextHop, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "sip" && u.Scheme != "sips") || u.Opaque == "" {
		return NextHop{}, fmt.Errorf("next hop %q: want a SIP URI such as sip:10.0.0.5:5060;transport=tcp", s)
	}
	hostport, params, _ := strings.Cut(u.Opaque, ";")
	if strings.Contains(hostport, "@") {
		return NextHop{}, fmt.Errorf("next hop %q: a next hop has no user part", s)
	}
	h := NextHop{Transport: api.ProtocolUDP}
	if u.Scheme == "sips" {
		h.Transport = api.ProtocolTLS
	}
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "transport") {
			h.Transport = strings.ToLower(v)
		}
	}
	if h.Transport != api.ProtocolUDP && h.Transport != api.ProtocolTCP && h.Transport != api.ProtocolTLS {
		return NextHop{}, fmt.Errorf("next hop %q: transport %q is not udp, tcp or tls", s, h.Transport)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), strconv.Itoa(defaultPort(h.Transport))
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return NextHop{}, fmt.Errorf("next hop %q: bad port %q", s, port)
	}
	if err := api.ValidateHost("internal_next_hop", host); err != nil {
		return NextHop{}, fmt.Errorf("next hop %q: %w", s, err)
	}
	h.Host, h.Port = strings.ToLower(host), int(p)
	return h, nil
}

func defaultPort(transport string) int {
	if transport == api.ProtocolTLS {
		return 5061
	}
	return 5060
}
