package federation

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// target is a next hop as a test expects it.
type target struct {
	proto transport.Protocol
	addr  string
}

func targetsOf(v *core.Verdict) []target {
	var out []target
	for _, t := range v.Targets {
		out = append(out, target{t.Proto, t.Addr.String()})
	}
	return out
}

// verdictCase is one decision a table expects: Forward to targets, or a refusal with a status
// and a Warning that says why.
type verdictCase struct {
	name    string
	r       sipReq
	status  int      // 0: forwarded
	why     string   // a part of the Warning text
	targets []target // when forwarded
}

func checkVerdict(t *testing.T, v *core.Verdict, tc verdictCase) {
	t.Helper()
	if tc.status != 0 {
		if v.Action != core.Reject || v.Status != tc.status {
			t.Fatalf("verdict %v %d (%s), want refusal %d", v.Action, v.Status, warning(v), tc.status)
		}
		if !strings.Contains(warning(v), tc.why) {
			t.Errorf("Warning %q does not say %q", warning(v), tc.why)
		}
		return
	}
	if v.Action != core.Forward {
		t.Fatalf("verdict %v %d (%s), want Forward", v.Action, v.Status, warning(v))
	}
	if got := targetsOf(v); !slices.Equal(got, tc.targets) {
		t.Errorf("targets %v, want %v", got, tc.targets)
	}
}

func TestOutbound(t *testing.T) {
	tls := func(addr string) []target { return []target{{transport.TLS, addr}} }
	inDialog := func(r sipReq) sipReq {
		r.method = "BYE"
		r.to = "<sip:bob@" + partnerDom + ">;tag=b1"
		return r
	}
	f := newFixture(t)
	other := newCodec(t)
	tests := []verdictCase{
		{name: "to a partner", r: sipReq{}, targets: tls(partnerHop.String())},
		{name: "MESSAGE to a partner", r: sipReq{method: "MESSAGE"}, targets: tls(partnerHop.String())},
		{name: "From another domain", r: sipReq{from: "<sip:alice@" + partnerDom + ">;tag=a1"}, status: 403, why: "From is not in a local domain"},
		{name: "From a local subdomain", r: sipReq{from: "<sip:alice@sub." + localDomain + ">;tag=a1"}, status: 403, why: "From is not in a local domain"},
		{name: "From a tel URI", r: sipReq{from: "<tel:+15551234>;tag=a1"}, status: 403, why: "From is not in a local domain"},
		{name: "Request-URI a tel URI", r: sipReq{ruri: "tel:+15551234"}, status: 416},
		{name: "not a federated domain", r: sipReq{ruri: "sip:bob@stranger.example"}, status: 403, why: "not federated"},
		{name: "no route", r: sipReq{ruri: "sip:bob@" + nosrvDomain}, status: 404},
		{name: "by SRV, once the answer is cached", r: sipReq{ruri: "sip:bob@" + slowDomain}, targets: tls(slowHop.String())},

		{name: "in dialog, by the route set after our entry",
			r:       inDialog(sipReq{ruri: "sip:bob@198.51.100.9:5061;transport=tls", extra: "Route: " + ownRoute(f.codec, routingFQDN, "") + ", <sip:" + partnerHop.String() + ";transport=tls;lr>\n"}),
			targets: tls(partnerHop.String())},
		{name: "in dialog, by the Request-URI", r: inDialog(sipReq{ruri: "sip:bob@edge.partner.example;transport=tls"}), targets: tls(partnerHop.String())},
		{name: "in dialog, TLS is the default", r: inDialog(sipReq{ruri: "sip:bob@192.0.2.51"}), targets: tls("192.0.2.51:5061")},
		// Another deployment's marker, or ours for another host, makes an entry a partner's:
		// it is where the request goes, not an entry to pop.
		{name: "in dialog, a marker of another deployment",
			r:       inDialog(sipReq{ruri: "sip:bob@192.0.2.51", extra: "Route: " + ownRoute(other, "192.0.2.52", "") + "\n"}),
			targets: tls("192.0.2.52:5061")},
		{name: "in dialog, our marker copied to another host",
			r:       inDialog(sipReq{ruri: "sip:bob@192.0.2.51", extra: "Route: " + strings.Replace(ownRoute(f.codec, routingFQDN, ""), routingFQDN, "192.0.2.53", 1) + "\n"}),
			targets: tls("192.0.2.53:5061")},
		{name: "in dialog, To not federated", r: sipReq{method: "BYE", to: "<sip:bob@stranger.example>;tag=b1", ruri: "sip:bob@192.0.2.51"}, status: 403, why: "not a federated domain"},
		{name: "in dialog, maddr", r: inDialog(sipReq{ruri: "sip:bob@192.0.2.51;maddr=10.0.0.1"}), status: 403, why: "maddr"},
		{name: "in dialog, unknown transport", r: inDialog(sipReq{ruri: "sip:bob@192.0.2.51;transport=sctp"}), status: 403, why: "sctp"},
		{name: "in dialog, plaintext no static route names", r: inDialog(sipReq{ruri: "sip:bob@192.0.2.51;transport=tcp"}), status: 403, why: "plaintext"},
		{name: "in dialog, plaintext a static route names",
			r:       sipReq{method: "BYE", to: "<sip:bob@" + plainDomain + ">;tag=b1", ruri: "sip:bob@" + plainHop.String() + ";transport=tcp"},
			targets: []target{{transport.TCP, plainHop.String()}}},
		{name: "in dialog, plaintext to another port of that hop",
			r:      sipReq{method: "BYE", to: "<sip:bob@" + plainDomain + ">;tag=b1", ruri: "sip:bob@" + plainHop.Addr().String() + ":5070;transport=tcp"},
			status: 403, why: "plaintext"},
		{name: "in dialog, back at this proxy", r: inDialog(sipReq{ruri: "sip:bob@" + extListener.String() + ";transport=tls"}), status: 482},
		{name: "in dialog, a name that does not resolve", r: inDialog(sipReq{ruri: "sip:bob@nowhere.partner.example"}), status: 404},
		{name: "in dialog, the next Route entry not SIP",
			r:      inDialog(sipReq{ruri: "sip:bob@192.0.2.51", extra: "Route: " + ownRoute(f.codec, routingFQDN, "") + ", <tel:+1555>\n"}),
			status: 416},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := messagetest.Parse(t, tc.r.text())
			v := f.decide(t, m, fromInternal())
			checkVerdict(t, v, tc)
			if v.Flow.Direction != telemetry.DirOutbound {
				t.Errorf("direction %q", v.Flow.Direction)
			}
			if v.Action != core.Forward {
				return
			}
			for _, tg := range v.Targets {
				if tg.Side != transport.External {
					t.Errorf("target %v on the internal side", tg.Addr)
				}
			}
			// Topology hiding: the partner sees our routing FQDN and no Call-ID of ours.
			if v.ViaHost != routingFQDN || v.ViaPort != extPort {
				t.Errorf("Via %s:%d, want %s:%d", v.ViaHost, v.ViaPort, routingFQDN, extPort)
			}
			if !v.Hide || !v.Edit.DropVias || !v.Flow.CallIDRewritten || v.Edit.Drop == nil {
				t.Errorf("not hidden: Hide %v DropVias %v CallIDRewritten %v scrub %v", v.Hide, v.Edit.DropVias, v.Flow.CallIDRewritten, v.Edit.Drop != nil)
			}
			if bytes.Equal(v.Edit.CallID, m.Bytes(m.CallID)) || len(v.Edit.CallID) == 0 {
				t.Errorf("Call-ID %q goes out as it came", v.Edit.CallID)
			}
		})
	}
}

// Our own leading Route entries are popped in a dialog; an initial request's preloaded route
// set goes no further at all.
func TestOutboundPopsRoutes(t *testing.T) {
	f := newFixture(t)
	own := ownRoute(f.codec, routingFQDN, "")
	ownNode := ownRoute(f.codec, nodeFQDN, "")
	tests := []struct {
		name string
		r    sipReq
		pop  int
	}{
		{"in dialog, ours then a partner's", sipReq{method: "BYE", to: "<sip:bob@" + partnerDom + ">;tag=b", ruri: "sip:bob@192.0.2.51",
			extra: "Route: " + own + "\nRoute: " + ownNode + ", <sip:192.0.2.51;lr>, " + own + "\n"}, 2},
		{"in dialog, a partner's first", sipReq{method: "BYE", to: "<sip:bob@" + partnerDom + ">;tag=b", ruri: "sip:bob@192.0.2.51",
			extra: "Route: <sip:192.0.2.51;lr>, " + own + "\n"}, 0},
		{"initial, preloaded", sipReq{extra: "Route: <sip:10.0.0.30;lr>, <sip:10.0.0.31;lr>\n"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := f.decide(t, messagetest.Parse(t, tc.r.text()), fromInternal())
			if v.Action != core.Forward {
				t.Fatalf("verdict %v %d %s", v.Action, v.Status, warning(v))
			}
			if v.Edit.PopRoutes != tc.pop {
				t.Errorf("PopRoutes = %d, want %d", v.Edit.PopRoutes, tc.pop)
			}
		})
	}
}

// A direct federation domain faces the node FQDN, not the routing FQDN.
func TestOutboundDirectFederation(t *testing.T) {
	f := newFixture(t)
	v := f.decide(t, messagetest.Parse(t, sipReq{ruri: "sip:bob@" + directDomain, to: "<sip:bob@" + directDomain + ">"}.text()), fromInternal())
	if v.Action != core.Forward || v.ViaHost != nodeFQDN {
		t.Fatalf("verdict %v, Via host %q, want %q", v.Action, v.ViaHost, nodeFQDN)
	}
	if !bytes.Contains(v.Edit.RecordRoute, []byte("<sip:"+nodeFQDN+":")) {
		t.Errorf("Record-Route %q does not name the node", v.Edit.RecordRoute)
	}
}

func TestDecideGates(t *testing.T) {
	tests := []struct {
		name    string
		snap    func(f *fixture)
		r       sipReq
		src     *transport.Source
		action  core.Action
		status  int
		headers []string // lines Extra must carry
	}{
		{"no snapshot yet", func(f *fixture) { f.snaps.p.Store(nil) }, sipReq{}, fromInternal(), core.Reject, 503, []string{"Retry-After: 5"}},
		{"service off", func(f *fixture) { f.snaps.p.Store(snapshot(false)) }, sipReq{}, fromInternal(), core.Reject, 503, []string{"Retry-After: 5"}},
		{"OPTIONS to the proxy by name", nil, sipReq{method: "OPTIONS", ruri: "sip:" + routingFQDN}, fromInternal(), core.Answer, 200, []string{"Allow: INVITE, ACK"}},
		{"OPTIONS to the proxy by node name, from a partner", nil, sipReq{method: "OPTIONS", ruri: "sip:" + nodeFQDN + ";transport=tls"},
			&transport.Source{Side: transport.External, Proto: transport.TLS, Remote: partnerHop}, core.Answer, 200, nil},
		{"OPTIONS to the proxy by listener address", nil, sipReq{method: "OPTIONS", ruri: "sip:" + extListener.String()}, fromInternal(), core.Answer, 200, nil},
		{"OPTIONS to the proxy while the service is off", func(f *fixture) { f.snaps.p.Store(snapshot(false)) },
			sipReq{method: "OPTIONS", ruri: "sip:" + routingFQDN}, fromInternal(), core.Answer, 200, nil},
		// A user at the proxy's name is a request to route, not one for the proxy.
		{"OPTIONS to a user at the proxy's name", nil, sipReq{method: "OPTIONS", ruri: "sip:bob@" + routingFQDN}, fromInternal(), core.Reject, 403, nil},
		{"OPTIONS to another port of a listener address", nil, sipReq{method: "OPTIONS", ruri: "sip:" + extListener.Addr().String() + ":5999"}, fromInternal(), core.Reject, 403, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.snap != nil {
				tc.snap(f)
			}
			v := f.decide(t, messagetest.Parse(t, tc.r.text()), tc.src)
			if v.Action != tc.action || v.Status != tc.status {
				t.Fatalf("verdict %v %d (%s), want %v %d", v.Action, v.Status, warning(v), tc.action, tc.status)
			}
			for _, h := range tc.headers {
				if !bytes.Contains(v.Extra, []byte(h)) {
					t.Errorf("Extra %q lacks %q", v.Extra, h)
				}
			}
		})
	}
}

// A decision that needs DNS not cached yet defers from the inline path instead of waiting on
// the reading goroutine.
func TestOutboundDefersForDNS(t *testing.T) {
	f := newFixture(t)
	m := messagetest.Parse(t, sipReq{ruri: "sip:bob@" + slowDomain, to: "<sip:bob@" + slowDomain + ">"}.text())
	v := &core.Verdict{}
	f.p.Decide(&core.Request{Msg: m, Src: fromInternal()}, v)
	if v.Action != core.Defer {
		t.Fatalf("inline verdict %v %d, want Defer", v.Action, v.Status)
	}
	v = &core.Verdict{}
	f.p.Decide(&core.Request{Msg: m, Src: fromInternal(), MayBlock: true}, v)
	if v.Action != core.Forward {
		t.Fatalf("blocking verdict %v %d (%s)", v.Action, v.Status, warning(v))
	}
}
