package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// handshakingListener hands sipgo only TLS connections whose handshake completed. sipgo would
// otherwise run the handshake lazily in its reader with no deadline, so a peer that connects and
// stays silent would hold a goroutine and a socket for as long as it likes.
type handshakingListener struct {
	raw     net.Listener
	cfg     *tls.Config
	timeout time.Duration
	log     *slog.Logger
	onFail  func()

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
}

func newHandshakingListener(raw net.Listener, cfg *tls.Config, timeout time.Duration, log *slog.Logger, onFail func()) *handshakingListener {
	l := &handshakingListener{
		raw: raw, cfg: cfg, timeout: timeout, log: log, onFail: onFail,
		conns: make(chan net.Conn), done: make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

func (l *handshakingListener) acceptLoop() {
	for {
		raw, err := l.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.errMu.Lock()
			l.err = err
			l.errMu.Unlock()
			_ = l.Close()
			return
		}
		go l.handshake(raw)
	}
}

func (l *handshakingListener) handshake(raw net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	c := tls.Server(raw, l.cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		// Identity and chain rejections were logged, with the identity, by the peer check;
		// this line covers the rest (no certificate, protocol or cipher mismatch, timeout).
		var pr *peerRejected
		if !errors.As(err, &pr) {
			l.log.Info("TLS handshake failed", "direction", dirInbound, "remote", raw.RemoteAddr().String(), "error", err)
			if l.onFail != nil {
				l.onFail()
			}
		}
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *handshakingListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.errMu.Lock()
		defer l.errMu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *handshakingListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.raw.Close()
	})
	return err
}

func (l *handshakingListener) Addr() net.Addr { return l.raw.Addr() }
