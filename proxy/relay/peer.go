package relay

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/proxy/identity"
)

// peerRejected fails a TLS handshake with a partner whose chain does not verify or whose identity
// is no TLS peer subject; it was logged when it was decided.
type peerRejected struct {
	direction  string
	identities []string
	chain      error
}

func (e *peerRejected) Unwrap() error { return e.chain }

func (e *peerRejected) Error() string {
	if e.chain != nil {
		return e.chain.Error()
	}
	if len(e.identities) == 0 {
		return "peer certificate has no SIP identity (RFC 5922), so it cannot match a TLS peer subject"
	}
	return fmt.Sprintf("peer identity %s is not a TLS peer subject", strings.Join(e.identities, ","))
}

// checkPartnerClient runs in the external listener's handshake.
func (r *Relay) checkPartnerClient(p identity.Peer) error {
	remote := ""
	if p.Conn != nil {
		remote = p.Conn.RemoteAddr().String()
	}
	return r.checkPartner(dirInbound, p, "remote", remote)
}

// checkPartnerServer runs in the handshake toward a partner's edge, before any SIP is sent.
func (r *Relay) checkPartnerServer(p identity.Peer) error {
	// sipgo dials resolved addresses, so ServerName is the next hop's IP.
	return r.checkPartner(dirOutbound, p, "next_hop", p.State.ServerName)
}

func (r *Relay) checkPartner(dir string, p identity.Peer, addrKey, addr string) error {
	subject := strings.Join(p.Identities, ",")
	if p.ChainErr != nil {
		r.m.handshakes.WithLabelValues(dir, "chain").Inc()
		r.log.Warn("TLS peer rejected: certificate chain does not verify against --tls-ca",
			"direction", dir, addrKey, addr, "subject", subject, "error", p.ChainErr)
		return &peerRejected{direction: dir, identities: p.Identities, chain: p.ChainErr}
	}
	snap := r.snaps.Load()
	if snap != nil {
		for _, id := range p.Identities {
			if snap.IsPeerSubject(id) {
				return nil
			}
		}
	}
	r.m.handshakes.WithLabelValues(dir, "subject").Inc()
	r.log.Warn("TLS peer rejected: identity is not a TLS peer subject",
		"direction", dir, addrKey, addr, "subject", subject)
	return &peerRejected{direction: dir, identities: p.Identities}
}

// peerCert is the certificate the peer of a TLS connection presented, nil on other transports.
// sipgo does not show it to handlers, but its connection wraps the *tls.Conn.
func peerCert(c sip.Connection) *x509.Certificate {
	tc, ok := c.(*sip.TCPConnection)
	if !ok {
		return nil
	}
	tlsc, ok := tc.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tlsc.ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	return cs.PeerCertificates[0]
}
