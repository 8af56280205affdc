package core

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
)

// nopPolicy refuses everything; tests that need no decision use it.
type nopPolicy struct{}

func (nopPolicy) Decide(_ *Request, v *Verdict)                   { v.Action, v.Status = Reject, 403 }
func (nopPolicy) EditResponse(*Flow, *message.Msg, *message.Edit) {}
func (nopPolicy) Permit(*Target, *x509.Certificate) (error, bool) { return nil, false }

func newBareCore(t *testing.T) *Core {
	t.Helper()
	c, err := New(Config{Policy: nopPolicy{}, Log: discard(), Overload: OverloadConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// RFC 3261 17.2.3: a request matches a server transaction by its top Via's branch and sent-by,
// and its method (ACK and CANCEL find the INVITE they belong to); without the magic cookie, by
// what identifies the request (RFC 2543).
func TestServerKey(t *testing.T) {
	c := newBareCore(t)
	const via = "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKtx1"
	const old = "SIP/2.0/UDP 192.0.2.1:5070"
	invite := req{method: "INVITE", vias: []string{via}, cseq: 7}
	oldInvite := req{method: "INVITE", vias: []string{old}, cseq: 7}
	tests := []struct {
		name  string
		base  req
		other req
		class byte // the class other is looked up with
		same  bool
	}{
		{"retransmission", invite, invite, classInvite, true},
		{"retransmission with other headers", invite, req{method: "INVITE", vias: []string{via}, cseq: 7, extra: "Subject: again\n"}, classInvite, true},
		{"ACK of the INVITE", invite, req{method: "ACK", vias: []string{via}, cseq: 7, toTag: "callee"}, classInvite, true},
		{"CANCEL of the INVITE", invite, req{method: "CANCEL", vias: []string{via}, cseq: 7}, classInvite, true},
		{"other branch", invite, req{method: "INVITE", vias: []string{"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKtx2"}, cseq: 7}, classInvite, false},
		{"other sent-by host", invite, req{method: "INVITE", vias: []string{"SIP/2.0/UDP 192.0.2.2:5070;branch=z9hG4bKtx1"}, cseq: 7}, classInvite, false},
		{"other sent-by port", invite, req{method: "INVITE", vias: []string{"SIP/2.0/UDP 192.0.2.1:5071;branch=z9hG4bKtx1"}, cseq: 7}, classInvite, false},
		{"a BYE reusing the branch", invite, req{method: "BYE", vias: []string{via}, cseq: 8}, classOther, false},
		{"a CANCEL as a transaction of its own", invite, req{method: "CANCEL", vias: []string{via}, cseq: 7}, classCancel, false},
		{"non-INVITE methods sharing a branch", req{method: "MESSAGE", vias: []string{via}}, req{method: "OPTIONS", vias: []string{via}}, classOther, false},
		{"RFC 2543 retransmission", oldInvite, oldInvite, classInvite, true},
		{"RFC 2543 CANCEL", oldInvite, req{method: "CANCEL", vias: []string{old}, cseq: 7}, classInvite, true},
		{"RFC 2543 other CSeq", oldInvite, req{method: "INVITE", vias: []string{old}, cseq: 8}, classInvite, false},
		{"RFC 2543 other From tag", oldInvite, req{method: "INVITE", vias: []string{old}, cseq: 7, fromTag: "f2"}, classInvite, false},
		{"RFC 2543 other Call-ID", oldInvite, req{method: "INVITE", vias: []string{old}, cseq: 7, callID: "other"}, classInvite, false},
		{"RFC 2543 other Request-URI", oldInvite, req{method: "INVITE", ruri: "sip:carol@partner.example", vias: []string{old}, cseq: 7}, classInvite, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := parseReq(t, tc.base)
			other := parseReq(t, tc.other)
			k1 := c.serverKey(base, requestClass(base))
			k2 := c.serverKey(other, tc.class)
			if (k1 == k2) != tc.same {
				t.Errorf("same key = %v, want %v", k1 == k2, tc.same)
			}
		})
	}
}

func TestRequestClass(t *testing.T) {
	for method, want := range map[string]byte{
		"INVITE": classInvite, "ACK": classInvite, "CANCEL": classCancel,
		"BYE": classOther, "MESSAGE": classOther, "invite": classOther, // methods are case-sensitive
	} {
		if got := requestClass(parseReq(t, req{method: method})); got != want {
			t.Errorf("%s: class %c, want %c", method, got, want)
		}
	}
}

// A CANCEL shares its INVITE's branch: the responses of each must find their own branch.
func TestClientKeyCancel(t *testing.T) {
	c := newBareCore(t)
	b := c.appendBranch(nil, 1)
	if c.clientKey(b, false) == c.clientKey(b, true) {
		t.Fatal("a CANCEL's client key equals its INVITE's")
	}
	if c.clientKey(b, true) != c.clientKey(append([]byte(nil), b...), true) {
		t.Fatal("the client key depends on more than the branch")
	}
}

func TestBranches(t *testing.T) {
	c, other := newBareCore(t), newBareCore(t)
	b1, b2 := string(c.appendBranch(nil, 0xabc)), string(c.appendBranch(nil, 0xabc))
	if !strings.HasPrefix(b1, message.BranchCookie) {
		t.Errorf("branch %q lacks the magic cookie", b1)
	}
	if b1 == b2 {
		t.Error("two branches of one request are equal: their responses would mix")
	}
	for _, tc := range []struct {
		branch string
		own    bool
	}{
		{b1, true},
		{string(c.appendStatelessBranch(nil, parseReq(t, req{method: "ACK"}), 1)), true},
		{string(other.appendBranch(nil, 0xabc)), false},
		{"z9hG4bKcaller1", false},
		{c.branchPrefix, false}, // the prefix alone is no branch
		{"", false},
	} {
		if got := c.ownBranch([]byte(tc.branch)); got != tc.own {
			t.Errorf("ownBranch(%q) = %v, want %v", tc.branch, got, tc.own)
		}
	}
}

// An ACK of a 2xx goes on without a transaction; its retransmission must get the same branch,
// and another ACK another one (RFC 3261 16.11).
func TestStatelessBranch(t *testing.T) {
	c := newBareCore(t)
	ack := req{method: "ACK", toTag: "t1", vias: []string{"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKack1"}}
	a := parseReq(t, ack)
	lh := loopHash(a)
	first := string(c.appendStatelessBranch(nil, a, lh))
	if again := string(c.appendStatelessBranch(nil, parseReq(t, ack), lh)); again != first {
		t.Errorf("a retransmitted ACK got branch %q, first %q", again, first)
	}
	ack.vias = []string{"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKack2"}
	if next := string(c.appendStatelessBranch(nil, parseReq(t, ack), lh)); next == first {
		t.Error("two ACKs with different branches got the same one")
	}
	ack.vias = []string{"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKack1"}
	ack.callID = "call-2@example.com"
	if next := string(c.appendStatelessBranch(nil, parseReq(t, ack), lh)); next == first {
		t.Error("ACKs of two calls that reuse a branch got the same one")
	}
}

// RFC 3261 16.3 step 4: a request that comes back with our branch and unchanged loops; one
// whose Request-URI changed on the way spirals and goes on.
func TestLoopDetection(t *testing.T) {
	c, other := newBareCore(t), newBareCore(t)
	first := req{method: "INVITE", toTag: "", cseq: 3}
	lh := loopHash(parseReq(t, first))
	ours := "SIP/2.0/TLS fed.example.com:5061;branch=" + string(c.appendBranch(nil, lh))
	theirs := "SIP/2.0/TLS fed.example.com:5061;branch=" + string(other.appendBranch(nil, lh))
	caller := "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc"
	back := func(mod func(*req), vias ...string) req {
		r := first
		r.vias = vias
		if mod != nil {
			mod(&r)
		}
		return r
	}
	tests := []struct {
		name string
		r    req
		loop bool
	}{
		{"never here", back(nil, caller), false},
		{"our Via below the top", back(nil, "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKp", ours, caller), true},
		{"our Via in a list", back(nil, "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKp, "+ours, caller), true},
		{"another proxy's branch", back(nil, "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKp", theirs, caller), false},
		{"spiral: Request-URI changed", back(func(r *req) { r.ruri = "sip:bob@other.example" }, ours, caller), false},
		{"other CSeq", back(func(r *req) { r.cseq = 4 }, ours, caller), false},
		{"other To tag", back(func(r *req) { r.toTag = "x" }, ours, caller), false},
		// Topology hiding rewrites the Call-ID on the way out: it must not hide a loop.
		{"other Call-ID", back(func(r *req) { r.callID = "sf1.masked" }, ours, caller), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := parseReq(t, tc.r)
			if got := c.isLoop(m, loopHash(m)); got != tc.loop {
				t.Errorf("isLoop = %v, want %v", got, tc.loop)
			}
		})
	}
}
