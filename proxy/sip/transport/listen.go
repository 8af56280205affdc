package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

type listener struct {
	t       *Transport
	side    Side
	proto   Protocol
	ln      net.Listener
	local   netip.AddrPort
	serving bool
}

func (l *listener) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.t.rlog.Log(context.Background(), slog.LevelWarn, "accept", "accept failed",
				slog.String(telemetry.KeyListener, l.proto.String()+"://"+l.local.String()), slog.Any(telemetry.KeyError, err))
			select {
			case <-time.After(delay):
				continue
			case <-l.t.ctx.Done():
				return
			}
		}
		delay = 0
		l.accepted(nc)
	}
}

func (l *listener) accepted(nc net.Conn) {
	c := newConn(l.t, l.side, l.proto, addrPortOf(nc.RemoteAddr()))
	c.local = unmapAP(addrPortOf(nc.LocalAddr()))
	if ok, reason := l.t.track(c, true); !ok {
		_ = nc.Close()
		l.t.refused(l.side, reason, c.remote, "connection refused")
		return
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetKeepAlive(true)
		_ = tcp.SetKeepAlivePeriod(30 * time.Second)
	}
	nc = c.bl.watch(nc)
	if l.proto != TLS {
		c.nc = nc
		c.start()
		return
	}
	// The handshake runs on the connection's own goroutine, bounded in time, so a peer that
	// connects and stays silent holds nothing else.
	l.t.goRun(func() {
		tc := tls.Server(nc, l.t.cfg.ServerTLS[l.side])
		c.nc = tc
		ctx, cancel := context.WithTimeout(l.t.ctx, l.t.lim.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			l.t.handshakeFailed(c, err)
			c.close(err)
			return
		}
		c.start()
	})
}

// PeerRejected is what a TLS peer check returns when it refused the peer itself (chain or
// identity), having counted and logged it with the identities: the transport then adds no line
// of its own.
type PeerRejected interface {
	error
	PeerRejected() string // the reason label: chain or peer_subject
}

func (t *Transport) handshakeFailed(c *Conn, err error) {
	var pr PeerRejected
	if errors.As(err, &pr) {
		return
	}
	t.HandshakeFailed(c.side, telemetry.ReasonHandshake)
	t.rlog.Log(context.Background(), slog.LevelInfo, "handshake:"+c.side.String(), "TLS handshake failed",
		slog.String(telemetry.KeySide, c.side.String()), slog.String(telemetry.KeyRemote, c.remote.String()), slog.Any(telemetry.KeyError, err))
}
