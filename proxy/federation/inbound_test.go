package federation

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// capture keeps the Source of the first message a transport hands over.
type capture struct{ ch chan transport.Source }

func (c *capture) HandleMessage(_ *message.Msg, src *transport.Source) {
	select {
	case c.ch <- *src:
	default:
	}
}

// tlsSource is where a partner's request comes from over mutual TLS with leaf as its
// certificate: the policy reads the peer's identity from the connection, which only the
// transport makes, so a loopback TLS connection is opened for it and kept for the test.
func tlsSource(t *testing.T, ca *testpki.CA, leaf *testpki.Leaf) *transport.Source {
	t.Helper()
	server := ca.MustIssue(testpki.LeafOptions{CN: routingFQDN, DNS: []string{routingFQDN}})
	h := &capture{ch: make(chan transport.Source, 1)}
	var stls [2]*tls.Config
	stls[transport.External] = &tls.Config{Certificates: []tls.Certificate{server.TLSCertificate()},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	tp, err := transport.New(transport.Config{Handler: h, ServerTLS: stls, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tp.Close)
	addr, err := tp.Listen(transport.External, transport.TLS, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp.Serve()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: ca.Pool(), ServerName: routingFQDN, Certificates: []tls.Certificate{leaf.TLSCertificate()}}}
	conn, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := conn.Write([]byte(sipReq{method: "OPTIONS"}.text())); err != nil {
		t.Fatal(err)
	}
	select {
	case src := <-h.ch:
		if src.Conn == nil || src.Conn.PeerCert() == nil {
			t.Fatal("the connection carries no peer certificate")
		}
		return &src
	case <-time.After(5 * time.Second):
		t.Fatal("no message over the TLS connection")
		return nil
	}
}

// partnerReq is a request of a partner to a local user.
func partnerReq(r sipReq) sipReq {
	r.ruri = or(r.ruri, "sip:alice@"+localDomain)
	r.from = or(r.from, "<sip:bob@"+partnerDom+">;tag=b1")
	r.to = or(r.to, "<sip:alice@"+localDomain+">")
	r.via = or(r.via, "SIP/2.0/TLS "+partnerHop.String()+";branch=z9hG4bKp1")
	r.callID = or(r.callID, "p-call-1@edge.partner.example")
	return r
}

func TestInbound(t *testing.T) {
	ca := testpki.MustCA("federation test CA")
	partner := tlsSource(t, ca, ca.MustIssue(testpki.LeafOptions{CN: partnerEdge, DNS: []string{partnerEdge}}))
	bound := tlsSource(t, ca, ca.MustIssue(testpki.LeafOptions{CN: boundEdge, DNS: []string{boundEdge}}))
	stranger := tlsSource(t, ca, ca.MustIssue(testpki.LeafOptions{CN: "edge.stranger.example", DNS: []string{"edge.stranger.example"}}))
	// The peer subject as a SIP URI identity (RFC 5922): it outranks the DNS names.
	byURI := tlsSource(t, ca, ca.MustIssue(testpki.LeafOptions{CN: "x", DNS: []string{partnerEdge}, URIs: []string{"sip:" + boundEdge}}))
	strangerURI := tlsSource(t, ca, ca.MustIssue(testpki.LeafOptions{CN: partnerEdge, DNS: []string{partnerEdge}, URIs: []string{"sip:edge.stranger.example"}}))
	plain := &transport.Source{Side: transport.External, Proto: transport.TCP, Remote: plainHop}
	plainOtherAddr := &transport.Source{Side: transport.External, Proto: transport.TCP, Remote: partnerHop}
	plainUDP := &transport.Source{Side: transport.External, Proto: transport.UDP, Remote: plainHop}

	f := newFixture(t)
	other := newCodec(t)
	internal := []target{{transport.TCP, internalHop.String()}}
	inDialog := func(r sipReq) sipReq {
		r.method = "BYE"
		r.to = "<sip:alice@" + localDomain + ">;tag=a1"
		return partnerReq(r)
	}
	tests := []struct {
		verdictCase
		src *transport.Source
		uri string // the Request-URI the request must go on with, when it changes
	}{
		{verdictCase{name: "from a partner", r: partnerReq(sipReq{}), targets: internal}, partner, ""},
		{verdictCase{name: "From a local domain", r: partnerReq(sipReq{from: "<sip:mallory@" + localDomain + ">;tag=m"}),
			status: 403, why: "cannot send as a local domain"}, partner, ""},
		{verdictCase{name: "From a domain not federated", r: partnerReq(sipReq{from: "<sip:mallory@stranger.example>;tag=m"}),
			status: 403, why: "not a federated domain"}, partner, ""},
		{verdictCase{name: "From a tel URI", r: partnerReq(sipReq{from: "<tel:+15551234>;tag=m"}), status: 403, why: "From is not a SIP URI"}, partner, ""},
		// peer_subjects bind a domain to its edges: another partner's edge cannot speak for it.
		{verdictCase{name: "From a bound domain, another partner's edge", r: partnerReq(sipReq{from: "<sip:carol@" + boundDomain + ">;tag=c"}),
			status: 403, why: "peer subjects"}, partner, ""},
		{verdictCase{name: "From a bound domain, its edge", r: partnerReq(sipReq{from: "<sip:carol@" + boundDomain + ">;tag=c"}), targets: internal}, bound, ""},
		{verdictCase{name: "From a bound domain, its edge named by a SIP URI", r: partnerReq(sipReq{from: "<sip:carol@" + boundDomain + ">;tag=c"}), targets: internal}, byURI, ""},
		{verdictCase{name: "a SIP URI identity outranks the DNS names", r: partnerReq(sipReq{}), status: 403, why: "not a TLS peer subject"}, strangerURI, ""},
		{verdictCase{name: "identity not a peer subject", r: partnerReq(sipReq{}), status: 403, why: "not a TLS peer subject"}, stranger, ""},
		{verdictCase{name: "to a domain not local", r: partnerReq(sipReq{ruri: "sip:carol@" + partnerDom}), status: 403, why: "not a local domain"}, partner, ""},
		{verdictCase{name: "to a local subdomain", r: partnerReq(sipReq{ruri: "sip:carol@sub." + localDomain}), status: 403, why: "not a local domain"}, partner, ""},
		{verdictCase{name: "To a tel URI", r: partnerReq(sipReq{to: "<tel:+15551234>"}), status: 403, why: "To is not a SIP URI"}, partner, ""},
		{verdictCase{name: "in dialog, a contact as Request-URI", r: inDialog(sipReq{ruri: "sip:alice@198.51.100.7"}), targets: internal}, partner, ""},
		{verdictCase{name: "in dialog, To not local", r: partnerReq(sipReq{method: "BYE", to: "<sip:carol@" + partnerDom + ">;tag=c"}),
			status: 403, why: "not a local domain"}, partner, ""},

		{verdictCase{name: "plaintext from the hop a static route names", r: partnerReq(sipReq{from: "<sip:dave@" + plainDomain + ">;tag=d"}), targets: internal}, plain, ""},
		{verdictCase{name: "plaintext for a domain routed over TLS", r: partnerReq(sipReq{}), status: 403, why: "mutual TLS only"}, plain, ""},
		{verdictCase{name: "plaintext from another address", r: partnerReq(sipReq{from: "<sip:dave@" + plainDomain + ">;tag=d"}),
			status: 403, why: "mutual TLS only"}, plainOtherAddr, ""},
		{verdictCase{name: "plaintext over another protocol", r: partnerReq(sipReq{from: "<sip:dave@" + plainDomain + ">;tag=d"}),
			status: 403, why: "mutual TLS only"}, plainUDP, ""},
		{verdictCase{name: "plaintext for a domain bound to an edge", r: partnerReq(sipReq{from: "<sip:carol@" + boundDomain + ">;tag=c"}),
			status: 403, why: "mutual TLS only"}, plain, ""},

		// Our encodings: what we sealed opens; anything else is refused, not trusted.
		{verdictCase{name: "sfc sealed by us", r: inDialog(sipReq{ruri: "sip:alice@" + routingFQDN + ":5061;transport=tls;sfc=" + string(f.codec.Seal(nil, []byte("sip:alice@10.0.0.20:5060;transport=tcp")))}),
			targets: internal}, partner, "sip:alice@10.0.0.20:5060;transport=tcp"},
		{verdictCase{name: "sfc tampered", r: inDialog(sipReq{ruri: "sip:alice@" + routingFQDN + ";sfc=" + string(tamper(f.codec.Seal(nil, []byte("sip:alice@10.0.0.20"))))}),
			status: 404, why: "unknown contact"}, partner, ""},
		{verdictCase{name: "sfc of another deployment", r: inDialog(sipReq{ruri: "sip:alice@" + routingFQDN + ";sfc=" + string(other.Seal(nil, []byte("sip:alice@10.0.0.20")))}),
			status: 404, why: "unknown contact"}, partner, ""},
		{verdictCase{name: "sfr tampered", r: inDialog(sipReq{extra: "Route: " + ownRoute(f.codec, routingFQDN, "s"+string(tamper(f.codec.Seal(nil, []byte("<sip:10.0.0.30;lr>"))))) + "\n"}),
			status: 403, why: "Route entry does not decode"}, partner, ""},
		// A marker can be copied (it names our host); the route set behind it cannot be made.
		{verdictCase{name: "sfr of another deployment behind our marker", r: inDialog(sipReq{extra: "Route: " + ownRoute(f.codec, routingFQDN, "s"+string(other.Seal(nil, []byte("<sip:10.0.0.30;lr>")))) + "\n"}),
			status: 403, why: "Route entry does not decode"}, partner, ""},
		{verdictCase{name: "sfr of an unknown encoding", r: inDialog(sipReq{extra: "Route: " + ownRoute(f.codec, routingFQDN, "x"+string(f.codec.Seal(nil, []byte("<sip:10.0.0.30;lr>")))) + "\n"}),
			status: 403, why: "Route entry does not decode"}, partner, ""},
		{verdictCase{name: "sfr internal entry of an unknown protocol", r: inDialog(sipReq{extra: "Route: " + ownRoute(f.codec, routingFQDN, "ix") + "\n"}),
			status: 403, why: "Route entry does not decode"}, partner, ""},
		{verdictCase{name: "sfr internal entry alone", r: inDialog(sipReq{extra: "Route: " + ownRoute(f.codec, routingFQDN, "it") + "\n"}), targets: internal}, partner, ""},
		// Behind another deployment's marker, an sfr is a partner's parameter: not ours to open.
		{verdictCase{name: "sfr behind a foreign marker", r: inDialog(sipReq{extra: "Route: " + ownRoute(other, routingFQDN, "s"+string(other.Seal(nil, []byte("<sip:10.0.0.30;lr>")))) + "\n"}),
			targets: internal}, partner, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := messagetest.Parse(t, tc.r.text())
			v := f.decide(t, m, tc.src)
			checkVerdict(t, v, tc.verdictCase)
			if v.Flow.Direction != telemetry.DirInbound {
				t.Errorf("direction %q", v.Flow.Direction)
			}
			if v.Action != core.Forward {
				return
			}
			for _, tg := range v.Targets {
				if tg.Side != transport.Internal {
					t.Errorf("target %v not on the internal side", tg.Addr)
				}
			}
			// Every Route entry a partner sent is popped: only ours could be trusted, and
			// ours are restored from what we sealed.
			if n := len(addresses(m, message.Route)); v.Edit.PopRoutes != n {
				t.Errorf("PopRoutes = %d, want all %d", v.Edit.PopRoutes, n)
			}
			if v.Edit.InsertRoutes != nil {
				t.Errorf("routes %q restored", v.Edit.InsertRoutes)
			}
			if string(v.Edit.RequestURI) != tc.uri {
				t.Errorf("Request-URI becomes %q, want %q", v.Edit.RequestURI, tc.uri)
			}
			if !v.Flow.Hide || !v.Flow.CallIDRewritten || bytes.Equal(v.Edit.CallID, m.Bytes(m.CallID)) {
				t.Errorf("not hidden: Hide %v, Call-ID %q", v.Flow.Hide, v.Edit.CallID)
			}
		})
	}
}

// tamper flips one character of a sealed value, keeping it base64url.
func tamper(sealed []byte) []byte {
	b := append([]byte(nil), sealed...)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return b
}

// A new dialog from a partner is record-routed through both our faces, top first the one the
// internal side routes to (RFC 5658), and goes to the internal next hop with our internal Via.
func TestInboundRecordRoute(t *testing.T) {
	plain := &transport.Source{Side: transport.External, Proto: transport.TCP, Remote: plainHop}
	f := newFixture(t)
	m := messagetest.Parse(t, partnerReq(sipReq{from: "<sip:dave@" + plainDomain + ">;tag=d"}).text())
	v := f.decide(t, m, plain)
	if v.Action != core.Forward {
		t.Fatalf("verdict %v %d %s", v.Action, v.Status, warning(v))
	}
	if v.ViaHost != intListener.Addr().String() || v.ViaPort != int(intListener.Port()) {
		t.Errorf("Via %s:%d, want the internal listener %s", v.ViaHost, v.ViaPort, intListener)
	}
	rr := messagetest.Parse(t, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"+string(v.Edit.RecordRoute)+"Content-Length: 0\r\n\r\n")
	entries := addresses(rr, message.RecordRoute)
	if len(entries) != 2 {
		t.Fatalf("Record-Route %q: want two entries", v.Edit.RecordRoute)
	}
	wantHosts := []string{intListener.Addr().String(), routingFQDN}
	wantPorts := []int{int(intListener.Port()), extPort}
	wantProto := []string{"tcp", "tls"}
	for i, na := range entries {
		host := rr.Str(na.URI.Host)
		tr, _ := rr.Param(na.URI.Params, "transport")
		if host != wantHosts[i] || na.URI.Port != wantPorts[i] || rr.Str(tr) != wantProto[i] {
			t.Errorf("entry %d: %s:%d;transport=%s, want %s:%d;transport=%s", i, host, na.URI.Port, rr.Str(tr), wantHosts[i], wantPorts[i], wantProto[i])
		}
		if !f.p.isOwn(rr.Buf, na) {
			t.Errorf("entry %d does not carry our marker", i)
		}
		if _, lr := rr.Param(na.URI.Params, "lr"); !lr {
			t.Errorf("entry %d is not loose-routing", i)
		}
	}
}
