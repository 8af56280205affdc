package relay

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// resolveHops turns host, port and transport into next hops: one per address the host has.
// sipgo is only ever given addresses: its own resolver does A before SRV and keeps one answer.
func (r *Relay) resolveHops(ctx context.Context, host string, port int, transport string) ([]routing.NextHop, error) {
	if port == 0 {
		port = defaultPort(transport)
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []routing.NextHop{{Addr: netip.AddrPortFrom(a.Unmap(), uint16(port)), Transport: transport, Host: host}}, nil
	}
	ans, err := r.dns.LookupAddrs(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ans.Addrs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	hops := make([]routing.NextHop, 0, len(ans.Addrs))
	for _, a := range ans.Addrs {
		hops = append(hops, routing.NextHop{Addr: netip.AddrPortFrom(a, uint16(port)), Transport: transport, Host: host})
	}
	return hops, nil
}

// uriHops resolves the next hop of an in-dialog request: a Route or contact URI. Toward
// partners TLS is the default transport.
func (r *Relay) uriHops(ctx context.Context, u *sip.Uri) ([]routing.NextHop, error) {
	transport := api.ProtocolTLS
	if t, ok := u.UriParams.Get("transport"); ok {
		transport = strings.ToLower(t)
	}
	switch transport {
	case api.ProtocolTLS, api.ProtocolTCP, api.ProtocolUDP:
	default:
		return nil, fmt.Errorf("transport %q is not supported", transport)
	}
	return r.resolveHops(ctx, u.Host, u.Port, transport)
}
