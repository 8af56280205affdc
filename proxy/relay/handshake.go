package relay

import (
	"context"
	"log/slog"
	"strings"

	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// peerRejected fails a TLS handshake with a partner whose chain does not verify or whose
// identity is no TLS peer subject; it was counted and logged when it was decided.
type peerRejected struct {
	reason     string
	identities []string
	chain      error
}

func (e *peerRejected) Unwrap() error        { return e.chain }
func (e *peerRejected) PeerRejected() string { return e.reason }

func (e *peerRejected) Error() string {
	if e.chain != nil {
		return e.chain.Error()
	}
	if len(e.identities) == 0 {
		return "peer certificate has no SIP identity (RFC 5922), so it cannot match a TLS peer subject"
	}
	return "peer identity " + strings.Join(e.identities, ",") + " is not a TLS peer subject"
}

// checkPartnerClient runs in the external listener's handshake.
func (r *Relay) checkPartnerClient(p identity.Peer) error {
	remote := ""
	if p.Conn != nil {
		remote = p.Conn.RemoteAddr().String()
	}
	return r.checkPartner(slog.String(telemetry.KeyRemote, remote), p)
}

// checkPartnerServer runs in the handshake toward a partner's edge, before any SIP is sent.
func (r *Relay) checkPartnerServer(p identity.Peer) error {
	return r.checkPartner(slog.String(telemetry.KeyNextHopName, p.State.ServerName), p)
}

// checkPartner requires a chain that verifies and an identity that is a TLS peer subject. A
// refusal is counted by reason and logged, rate-limited: a peer failing in a loop costs a
// counter, not the disk.
func (r *Relay) checkPartner(where slog.Attr, p identity.Peer) error {
	ids := strings.Join(p.Identities, ",")
	if p.ChainErr != nil {
		r.tp.HandshakeFailed(transport.External, telemetry.ReasonChain)
		r.rlog.Log(context.Background(), slog.LevelWarn, "handshake:chain", "TLS peer rejected: certificate chain does not verify against --tls-ca",
			slog.String(telemetry.KeySide, telemetry.SideExternal), where, slog.String(telemetry.KeyPeerIdentities, ids), slog.Any(telemetry.KeyError, p.ChainErr))
		return &peerRejected{reason: telemetry.ReasonChain, identities: p.Identities, chain: p.ChainErr}
	}
	if snap := r.snaps.Load(); snap != nil {
		for _, id := range p.Identities {
			if snap.IsPeerSubject(id) {
				return nil
			}
		}
	}
	r.tp.HandshakeFailed(transport.External, telemetry.ReasonPeerSubject)
	r.rlog.Log(context.Background(), slog.LevelWarn, "handshake:subject", "TLS peer rejected: identity is not a TLS peer subject",
		slog.String(telemetry.KeySide, telemetry.SideExternal), where, slog.String(telemetry.KeyPeerIdentities, ids))
	return &peerRejected{reason: telemetry.ReasonPeerSubject, identities: p.Identities}
}
