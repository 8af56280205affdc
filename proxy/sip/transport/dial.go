package transport

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
)

// poolKey names a dialled connection: the same peer reached under another TLS server name is
// another connection.
type poolKey struct {
	side       Side
	proto      Protocol
	addr       netip.AddrPort
	serverName string
	lane       int
}

// Dial returns the open or opening connection to addr on that side, dialling one when there is
// none. It never blocks: messages sent before the connection is up wait in its queue, and links
// waiting on it fail if the dial does. serverName is sent as TLS SNI when it is a name.
//
// A peer is reached over up to Limits.ConnsPerHop connections, and lane (any number: a hash of
// the Call-ID, say) picks one. One connection is read by one goroutine, so a single connection
// to a busy next hop would put every response it returns on one core; a dialog's requests keep
// one lane, so they stay in order.
func (t *Transport) Dial(side Side, proto Protocol, addr netip.AddrPort, serverName string, lane uint32) (*Conn, error) {
	addr = unmapAP(addr)
	key := poolKey{side: side, proto: proto, addr: addr, serverName: serverName, lane: int(lane % uint32(t.lim.ConnsPerHop))}
	if v, ok := t.pool.Load(key); ok {
		return v.(*Conn), nil
	}
	c := newConn(t, side, proto, addr)
	c.outbound, c.key = true, key
	if v, loaded := t.pool.LoadOrStore(key, c); loaded {
		return v.(*Conn), nil
	}
	if ok, reason := t.track(c, false); !ok {
		t.pool.CompareAndDelete(key, c)
		t.refused(side, reason, addr, "dial refused")
		c.close(ErrClosed)
		return nil, ErrClosed
	}
	t.goRun(func() { t.dial(c, serverName) })
	return c, nil
}

func (t *Transport) dial(c *Conn, serverName string) {
	ctx, cancel := context.WithTimeout(t.ctx, t.lim.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", c.remote.String())
	if err != nil {
		c.close(err)
		return
	}
	c.local = unmapAP(addrPortOf(nc.LocalAddr()))
	nc = c.bl.watch(nc)
	if c.proto == TLS {
		cfg := t.cfg.ClientTLS[c.side]
		if cfg == nil {
			_ = nc.Close()
			c.close(errNoTLS)
			return
		}
		if serverName != "" {
			if _, err := netip.ParseAddr(serverName); err != nil {
				cfg = cfg.Clone()
				cfg.ServerName = serverName
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			t.handshakeFailed(c, err)
			c.close(err)
			return
		}
		nc = tc
	}
	c.mu.Lock()
	if c.state == connClosed {
		c.mu.Unlock()
		_ = nc.Close()
		return
	}
	c.nc = nc
	c.mu.Unlock()
	c.start()
}

type tlsError string

func (e tlsError) Error() string { return string(e) }

const errNoTLS = tlsError("no TLS client settings for this side")

// EachConn calls fn for every open connection of a side (e.g. to close those whose peer is no
// longer trusted).
func (t *Transport) EachConn(side Side, fn func(*Conn)) {
	t.mu.Lock()
	cs := make([]*Conn, 0, len(t.conns[side]))
	for c := range t.conns[side] {
		cs = append(cs, c)
	}
	t.mu.Unlock()
	for _, c := range cs {
		fn(c)
	}
}
