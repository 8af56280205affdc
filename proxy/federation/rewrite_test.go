package federation

import (
	"bytes"
	"crypto/x509"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// internalText is what must never reach a partner: the internal network's addresses.
const internalText = "10.0.0."

// forward applies a verdict's edit as the core does toward a target: its own Via on top and
// Max-Forwards decremented. It returns the message as the next hop parses it.
func forward(t *testing.T, m *message.Msg, v *core.Verdict) *message.Msg {
	t.Helper()
	e := v.Edit
	host := or(v.ViaHost, "sipfed")
	e.Via = []byte("Via: SIP/2.0/TLS " + host + ";branch=z9hG4bKsfcorex1\r\n")
	e.MaxForwards = m.MaxForwards - 1
	return messagetest.Parse(t, string(message.AppendEdited(nil, m, &e)))
}

// relay applies the policy's response edit as the core does (the Vias are the core's business).
func (f *fixture) relay(t *testing.T, flow *core.Flow, res *message.Msg) *message.Msg {
	t.Helper()
	e := message.Edit{MaxForwards: message.NoMaxForwards}
	f.p.EditResponse(flow, res, &e)
	return messagetest.Parse(t, string(message.AppendEdited(nil, res, &e)))
}

// uris lists an address header's URIs as text.
func uris(m *message.Msg, id message.HeaderID) []string {
	var out []string
	for _, na := range addresses(m, id) {
		out = append(out, m.Str(na.URI.Whole))
	}
	return out
}

// stripParam removes ;name=value from a URI's text (the sealed parameters are random).
func stripParam(uri, name string) string {
	i := strings.Index(uri, ";"+name+"=")
	if i < 0 {
		return uri
	}
	j := strings.IndexAny(uri[i+1:], ";>")
	if j < 0 {
		return uri[:i]
	}
	return uri[:i] + uri[i+1+j:]
}

// What goes to a partner names nothing internal: headers that carry a trust domain's data go,
// and so does any header that names an internal host or address.
func TestScrubToPartner(t *testing.T) {
	f := newFixture(t)
	m := messagetest.Parse(t, sipReq{
		via: "SIP/2.0/TCP 10.0.0.30:5060;branch=z9hG4bKproxy\nVia: SIP/2.0/TCP 10.0.0.20:5060;branch=z9hG4bKua1",
		extra: "Record-Route: <sip:10.0.0.30;lr>\n" +
			"Contact: <sip:alice@10.0.0.20:5060;transport=tcp>;+sip.instance=\"<urn:uuid:1>\"\n" +
			"P-Asserted-Identity: <sip:alice@example.com>\n" +
			"p-preferred-identity: <sip:alice@example.com>\n" +
			"History-Info: <sip:alice@example.com>;index=1\n" +
			"Path: <sip:edge.example.com;lr>\n" +
			"X-Served-By: pbx 10.0.0.20\n" +
			"Warning: 399 10.0.0.10 \"internal next hop\"\n" +
			"Subject: lunch\n" +
			"User-Agent: Phone/1.0\n" +
			"Supported: replaces\n",
	}.text())
	v := f.decide(t, m, &transport.Source{Side: transport.Internal, Proto: transport.TCP, Remote: netip.MustParseAddrPort("10.0.0.30:5060")})
	if v.Action != core.Forward {
		t.Fatalf("verdict %v %d %s", v.Action, v.Status, warning(v))
	}
	out := forward(t, m, v)
	if bytes.Contains(out.Buf, []byte(internalText)) {
		t.Errorf("the request to the partner names the internal network:\n%s", out.Buf)
	}
	for _, tc := range []struct {
		header string
		kept   bool
	}{
		{"P-Asserted-Identity", false}, {"P-Preferred-Identity", false}, {"History-Info", false}, {"Path", false},
		{"X-Served-By", false}, {"Warning", false},
		{"Subject", true}, {"User-Agent", true}, {"Supported", true},
	} {
		if got := len(messagetest.Values(out, tc.header)) > 0; got != tc.kept {
			t.Errorf("%s kept = %v, want %v", tc.header, got, tc.kept)
		}
	}
	if vias := messagetest.Values(out, "Via"); len(vias) != 1 {
		t.Errorf("Vias %q: want ours alone", vias)
	}

	// Contact: ours, the internal one sealed inside; its header parameters stay.
	contacts := addresses(out, message.Contact)
	if len(contacts) != 1 {
		t.Fatalf("Contacts %q", messagetest.Values(out, "Contact"))
	}
	c := contacts[0]
	if host := out.Str(c.URI.Host); host != routingFQDN || c.URI.Port != extPort {
		t.Errorf("Contact %s:%d, want %s:%d", host, c.URI.Port, routingFQDN, extPort)
	}
	sfc, ok := out.Param(c.URI.Params, "sfc")
	if !ok {
		t.Fatalf("Contact %q carries no sealed contact", out.Str(c.Whole))
	}
	if orig, ok := f.codec.Open(nil, out.Bytes(sfc)); !ok || string(orig) != "sip:alice@10.0.0.20:5060;transport=tcp" {
		t.Errorf("sealed contact opens to %q, %v", orig, ok)
	}
	if !strings.Contains(out.Str(c.Params), "+sip.instance") {
		t.Errorf("Contact header parameters lost: %q", out.Str(c.Whole))
	}

	// Record-Route: our external entry alone, the internal route set sealed in it.
	rr := addresses(out, message.RecordRoute)
	if len(rr) != 1 || !f.p.isOwn(out.Buf, rr[0]) || out.Str(rr[0].URI.Host) != routingFQDN {
		t.Fatalf("Record-Route %q: want our external entry alone", messagetest.Values(out, "Record-Route"))
	}
	sfr, ok := out.Param(rr[0].URI.Params, "sfr")
	if !ok {
		t.Fatal("our entry carries no route set")
	}
	plain, ok := f.p.decodeRouteSet(out.Bytes(sfr))
	if !ok || !strings.HasSuffix(string(plain), ",<sip:10.0.0.30;lr>") || !strings.HasPrefix(string(plain), "<sip:"+intListener.String()+";transport=tcp;lr;sfm=") {
		t.Errorf("sealed route set %q: want our internal entry, then the internal side's", plain)
	}

	// Call-ID: masked, and the mask comes off on the way back.
	if got := out.Str(out.CallID); strings.Contains(got, internalText) || string(f.codec.CrossCallID(nil, []byte(got))) != m.Str(m.CallID) {
		t.Errorf("Call-ID %q", got)
	}
}

// A dialog the internal side starts with a partner, both ways: the partner gets our sealed
// encodings, and they come back as the internal side's own route set and contact.
func TestDialogRoundTripOutbound(t *testing.T) {
	ca := testpki.MustCA("federation test CA")
	partner := tlsSource(t, ca, ca.MustIssue(testpki.LeafOptions{CN: partnerEdge, DNS: []string{partnerEdge}}))
	f := newFixture(t)
	const aliceContact = "sip:alice@10.0.0.20:5060;transport=tcp"
	proxy := &transport.Source{Side: transport.Internal, Proto: transport.TCP, Remote: netip.MustParseAddrPort("10.0.0.30:5060")}

	// The INVITE, record-routed by an internal proxy.
	inv := messagetest.Parse(t, sipReq{
		via:   "SIP/2.0/TCP 10.0.0.30:5060;branch=z9hG4bKproxy\nVia: SIP/2.0/TCP 10.0.0.20:5060;branch=z9hG4bKua1",
		extra: "Record-Route: <sip:10.0.0.30;lr>\nContact: <" + aliceContact + ">\n",
	}.text())
	v := f.decide(t, inv, proxy)
	if v.Action != core.Forward {
		t.Fatalf("INVITE: %v %d %s", v.Action, v.Status, warning(v))
	}
	out := forward(t, inv, v)
	ourRR := messagetest.Values(out, "Record-Route")[0]
	ourContact := uris(out, message.Contact)[0]

	// The partner's 200, record-routed by its edge above our entry.
	ok200 := messagetest.Parse(t, "SIP/2.0 200 OK\r\n"+
		"Via: "+messagetest.Values(out, "Via")[0]+"\r\n"+
		"Record-Route: <sip:edge.partner.example;transport=tls;lr>, "+ourRR+"\r\n"+
		"From: "+messagetest.Values(out, "From")[0]+"\r\n"+
		"To: <sip:bob@"+partnerDom+">;tag=b1\r\n"+
		"Call-ID: "+out.Str(out.CallID)+"\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:bob@192.0.2.50:5061;transport=tls>\r\n"+
		"Content-Length: 0\r\n\r\n")
	back := f.relay(t, &v.Flow, ok200)
	gotRR := uris(back, message.RecordRoute)
	for i := range gotRR {
		gotRR[i] = stripParam(gotRR[i], "sfm")
	}
	wantRR := []string{
		"sip:edge.partner.example;transport=tls;lr",
		"sip:" + routingFQDN + ":5061;transport=tls;lr",
		"sip:" + intListener.String() + ";transport=tcp;lr",
		"sip:10.0.0.30;lr",
	}
	if !slices.Equal(gotRR, wantRR) {
		t.Errorf("Record-Route to the caller\n%q\nwant\n%q", gotRR, wantRR)
	}

	// The callee's BYE: through our external entry, to our contact.
	bye := messagetest.Parse(t, partnerReq(sipReq{
		method: "BYE", ruri: ourContact,
		from: "<sip:bob@" + partnerDom + ">;tag=b1", to: "<sip:alice@" + localDomain + ">;tag=a1",
		callID: out.Str(out.CallID),
		extra:  "Route: " + ourRR + "\n",
	}).text())
	v = f.decide(t, bye, partner)
	if v.Action != core.Forward {
		t.Fatalf("BYE: %v %d %s", v.Action, v.Status, warning(v))
	}
	in := forward(t, bye, v)
	if got := in.Str(in.RURI.Whole); got != aliceContact {
		t.Errorf("BYE Request-URI %q, want the caller's contact %q", got, aliceContact)
	}
	if got := uris(in, message.Route); !slices.Equal(got, []string{"sip:10.0.0.30;lr"}) {
		t.Errorf("BYE Route %q, want the internal proxy's entry alone", got)
	}
	if got := in.Str(in.CallID); got != inv.Str(inv.CallID) {
		t.Errorf("BYE Call-ID %q, want the caller's %q", got, inv.Str(inv.CallID))
	}

	// The caller's BYE: its route set is the Record-Route reversed, less the internal proxy.
	bye2 := messagetest.Parse(t, sipReq{
		method: "BYE", ruri: "sip:bob@192.0.2.50:5061;transport=tls",
		via: "SIP/2.0/TCP 10.0.0.30:5060;branch=z9hG4bKproxy2\nVia: SIP/2.0/TCP 10.0.0.20:5060;branch=z9hG4bKua2",
		to:  "<sip:bob@" + partnerDom + ">;tag=b1",
		extra: "Route: " + strings.Join([]string{
			"<" + uris(back, message.RecordRoute)[2] + ">",
			"<" + uris(back, message.RecordRoute)[1] + ">",
			"<" + uris(back, message.RecordRoute)[0] + ">",
		}, ", ") + "\n",
	}.text())
	v = f.decide(t, bye2, proxy)
	if v.Action != core.Forward || v.Edit.PopRoutes != 2 {
		t.Fatalf("caller's BYE: %v %d %s, pops %d", v.Action, v.Status, warning(v), v.Edit.PopRoutes)
	}
	if got := targetsOf(v); !slices.Equal(got, []target{{transport.TLS, partnerHop.String()}}) {
		t.Errorf("caller's BYE goes to %v, want the partner's edge", got)
	}
	if bytes.Contains(forward(t, bye2, v).Buf, []byte(internalText)) {
		t.Error("the caller's BYE names the internal network")
	}
}

// A dialog a partner starts: our answer hides the internal route set and contact in our
// entries, and the partner's next requests bring them back.
func TestDialogRoundTripInbound(t *testing.T) {
	ca := testpki.MustCA("federation test CA")
	partner := tlsSource(t, ca, ca.MustIssue(testpki.LeafOptions{CN: partnerEdge, DNS: []string{partnerEdge}}))
	f := newFixture(t)
	const aliceContact = "sip:alice@10.0.0.20:5060;transport=tcp"

	inv := messagetest.Parse(t, partnerReq(sipReq{extra: "Contact: <sip:bob@192.0.2.50:5061;transport=tls>\n"}).text())
	v := f.decide(t, inv, partner)
	if v.Action != core.Forward {
		t.Fatalf("INVITE: %v %d %s", v.Action, v.Status, warning(v))
	}
	in := forward(t, inv, v)
	rr := messagetest.Values(in, "Record-Route")

	tests := []struct {
		name string
		rr   string // the Record-Route of the internal side's answer
		// the Route lines a partner's request through our entry must get back
		routes []string
	}{
		{"through an internal proxy", "<sip:10.0.0.30;lr>, " + strings.Join(rr, ", "), []string{"sip:10.0.0.30;lr"}},
		{"straight from the internal next hop", strings.Join(rr, ", "), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok200 := messagetest.Parse(t, "SIP/2.0 200 OK\r\n"+
				"Via: SIP/2.0/TLS "+partnerHop.String()+";branch=z9hG4bKp1\r\n"+
				"Record-Route: "+tc.rr+"\r\n"+
				"From: <sip:bob@"+partnerDom+">;tag=b1\r\n"+
				"To: <sip:alice@"+localDomain+">;tag=a1\r\n"+
				"Call-ID: "+in.Str(in.CallID)+"\r\n"+
				"CSeq: 1 INVITE\r\n"+
				"Contact: <"+aliceContact+">\r\n"+
				"P-Asserted-Identity: <sip:alice@example.com>\r\n"+
				"X-Served-By: 10.0.0.20\r\n"+
				"Content-Length: 0\r\n\r\n")
			out := f.relay(t, &v.Flow, ok200)
			if bytes.Contains(out.Buf, []byte(internalText)) {
				t.Errorf("the answer to the partner names the internal network:\n%s", out.Buf)
			}
			if len(messagetest.Values(out, "P-Asserted-Identity")) != 0 {
				t.Error("P-Asserted-Identity went to the partner")
			}
			ours := uris(out, message.RecordRoute)
			if len(ours) != 1 || !strings.HasPrefix(ours[0], "sip:"+routingFQDN+":5061;transport=tls;lr;sfm=") {
				t.Fatalf("Record-Route to the partner %q: want our external entry alone", ours)
			}
			contact := uris(out, message.Contact)

			// The partner's BYE, through our entry to our contact.
			bye := messagetest.Parse(t, partnerReq(sipReq{
				method: "BYE", ruri: contact[0], to: "<sip:alice@" + localDomain + ">;tag=a1",
				callID: inv.Str(inv.CallID),
				extra:  "Route: <" + ours[0] + ">\n",
			}).text())
			bv := f.decide(t, bye, partner)
			if bv.Action != core.Forward {
				t.Fatalf("BYE: %v %d %s", bv.Action, bv.Status, warning(bv))
			}
			fwd := forward(t, bye, bv)
			if got := fwd.Str(fwd.RURI.Whole); got != aliceContact {
				t.Errorf("BYE Request-URI %q, want %q", got, aliceContact)
			}
			if got := uris(fwd, message.Route); !slices.Equal(got, tc.routes) {
				t.Errorf("BYE Route %q, want %q", got, tc.routes)
			}
		})
	}
}

// Permit is asked before each request goes over an established connection: the peer must
// still be trusted, and be one of the domain's edges when the domain names them.
func TestPermit(t *testing.T) {
	ca := testpki.MustCA("federation test CA")
	leaf := func(name string) *testpki.Leaf {
		return ca.MustIssue(testpki.LeafOptions{CN: name, DNS: []string{name}})
	}
	partnerCert, boundCert, strangerCert := leaf(partnerEdge).Cert, leaf(boundEdge).Cert, leaf("edge.stranger.example").Cert
	ext := func(domain string) *core.Target {
		return &core.Target{Side: transport.External, Proto: transport.TLS, Addr: partnerHop, Domain: domain}
	}
	tests := []struct {
		name      string
		target    *core.Target
		cert      *x509.Certificate
		noSnap    bool
		ok, close bool
	}{
		{"partner edge", ext(partnerDom), partnerCert, false, true, false},
		{"no domain named", ext(""), partnerCert, false, true, false},
		{"a bound domain's edge", ext(boundDomain), boundCert, false, true, false},
		{"another edge for a bound domain", ext(boundDomain), partnerCert, false, false, false},
		// Not trusted at all any more: nobody may use that connection.
		{"no longer a peer subject", ext(partnerDom), strangerCert, false, false, true},
		{"internal side", &core.Target{Side: transport.Internal, Proto: transport.TLS, Addr: internalHop}, strangerCert, false, true, false},
		{"no snapshot", ext(partnerDom), partnerCert, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.noSnap {
				f.snaps.p.Store(nil)
			}
			err, closeConn := f.p.Permit(tc.target, tc.cert)
			if (err == nil) != tc.ok || closeConn != tc.close {
				t.Errorf("Permit = %v, close %v; want ok %v, close %v", err, closeConn, tc.ok, tc.close)
			}
		})
	}
}

// A response to a request from the internal side gives it back our internal entry: the same
// bytes whether it was sealed with others or travelled alone as a protocol letter (whose line
// is made once).
func TestExpandInternalOnlyRouteSet(t *testing.T) {
	f := newFixture(t)
	for _, proto := range []transport.Protocol{transport.UDP, transport.TCP, transport.TLS} {
		alone := string(f.p.extRR(routingFQDN, proto))
		plain := f.p.rrInternal[proto][len("Record-Route: ") : len(f.p.rrInternal[proto])-2]
		sealed := string(f.p.appendRR(nil, routingFQDN, extPort, transport.TLS, f.p.appendRouteSet(nil, proto, false, plain)))
		var got [2][]byte
		for i, line := range []string{alone, sealed} {
			m := messagetest.Parse(t, "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"+
				"Call-ID: x\r\nCSeq: 1 INVITE\r\n"+line+"Content-Length: 0\r\n\r\n")
			got[i] = f.p.expandRR(nil, m, addresses(m, message.RecordRoute))
		}
		if !bytes.Equal(got[0], got[1]) {
			t.Errorf("%s: alone gives\n%q\nsealed gives\n%q", proto, got[0], got[1])
		}
		if !bytes.Contains(got[0], f.p.rrInternal[proto]) {
			t.Errorf("%s: %q lacks our internal entry %q", proto, got[0], f.p.rrInternal[proto])
		}
	}
}
