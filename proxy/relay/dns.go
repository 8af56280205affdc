package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// systemDNS is the fallback when New gets no DNS: the system resolver, no cache.
type systemDNS struct{}

func (systemDNS) LookupSRV(ctx context.Context, domain string) (routing.SRVAnswer, error) {
	_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "sipfederationtls", "tcp", domain)
	if err != nil {
		return routing.SRVAnswer{}, err
	}
	var a routing.SRVAnswer
	for _, s := range srvs {
		rec := routing.SRVRecord{Priority: s.Priority, Weight: s.Weight, Port: s.Port, Target: strings.TrimSuffix(s.Target, ".")}
		if addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", rec.Target); err == nil {
			for _, ad := range addrs {
				rec.Addrs = append(rec.Addrs, ad.Unmap())
			}
		}
		a.Records = append(a.Records, rec)
	}
	return a, nil
}

func (systemDNS) LookupAddrs(ctx context.Context, host string) (routing.AddrAnswer, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return routing.AddrAnswer{}, err
	}
	out := routing.AddrAnswer{Addrs: make([]netip.Addr, 0, len(addrs))}
	for _, a := range addrs {
		out.Addrs = append(out.Addrs, a.Unmap())
	}
	return out, nil
}

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
