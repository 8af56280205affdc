package main

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// What Kamailio or sipfed sends the UAS: our request with their Via and Record-Route entries.
var relayed = crlf(`MESSAGE sip:alice@example.com SIP/2.0
Record-Route: <sip:127.0.0.1:5060;transport=udp;r2=on;lr>
Record-Route: <sip:imp1.example.com:5061;transport=tls;r2=on;lr>
Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK0a1b.0
v: SIP/2.0/TLS 127.0.0.1:40000;received=127.0.0.1;branch=z9hG4bK-tl-x1-0-7
From: <sip:bob@partner.example>;tag=x1-7
To: <sip:alice@example.com>
Call-ID: tl-x1-7
CSeq: 1 MESSAGE
Max-Forwards: 69
Content-Type: text/plain
l: 14

hello over TLS`)

func TestFrame(t *testing.T) {
	stream := append(append([]byte("\r\n\r\n"), relayed...), relayed[:40]...)
	rest := skipCRLF(stream)
	n, ok := frame(rest)
	if !ok || n != len(relayed) {
		t.Fatalf("frame = %d, %v; want %d", n, ok, len(relayed))
	}
	if n, ok := frame(rest[n:]); !ok || n != 0 {
		t.Fatalf("partial message: frame = %d, %v; want 0, true", n, ok)
	}
	if _, ok := frame(crlf("MESSAGE sip:a@b SIP/2.0\nContent-Length: x\n\n")); ok {
		t.Fatal("a Content-Length that is no number must stop framing")
	}
	if n, _ := frame(relayed[:len(relayed)-1]); n != 0 {
		t.Fatal("a body cut short is not a message yet")
	}
}

func TestAnswer200(t *testing.T) {
	out := answer200(nil, relayed, "uas1")
	res, err := sip.ParseMessage(out)
	if err != nil {
		t.Fatalf("parse %q: %v", out, err)
	}
	r, ok := res.(*sip.Response)
	if !ok || r.StatusCode != 200 {
		t.Fatalf("not a 200: %q", out)
	}
	vias := r.GetHeaders("Via")
	if len(vias) != 2 || !strings.Contains(vias[0].Value(), "5061;branch=z9hG4bK0a1b.0") {
		t.Fatalf("Vias not copied in order: %v", vias)
	}
	if rr := r.GetHeaders("Record-Route"); len(rr) != 2 {
		t.Fatalf("Record-Route not copied: %v", rr)
	}
	if tag, _ := r.To().Params.Get("tag"); tag != "uas1" {
		t.Fatalf("To tag = %q", tag)
	}
	if r.CallID().Value() != "tl-x1-7" || r.CSeq().SeqNo != 1 || r.From() == nil {
		t.Fatalf("From, Call-ID or CSeq not copied: %q", out)
	}
	if len(answer200(nil, out, "x")) != 0 {
		t.Fatal("a response must not be answered")
	}
	ack := crlf("ACK sip:a@b SIP/2.0\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\nContent-Length: 0\n\n")
	if len(answer200(nil, ack, "x")) != 0 {
		t.Fatal("an ACK must not be answered")
	}
	tagged := crlf("MESSAGE sip:a@b SIP/2.0\nTo: <sip:a@b>;tag=abc\nContent-Length: 0\n\n")
	if got := string(answer200(nil, tagged, "x")); !strings.Contains(got, "To: <sip:a@b>;tag=abc\r\n") {
		t.Fatalf("a To with a tag must keep it alone: %q", got)
	}
}

func TestHasTag(t *testing.T) {
	for v, want := range map[string]bool{
		" <sip:a@b>;tag=1":          true,
		" <sip:a@b;tag=1>":          false,
		" sip:a@b ; TAG=1":          true,
		" <sip:a@b>;tagx=1":         false,
		` "x;tag=y" <sip:a@b>;ok=1`: false,
	} {
		if got := hasTag([]byte(v)); got != want {
			t.Errorf("hasTag(%q) = %v", v, got)
		}
	}
}

// The UAC's requests are what sipgo would build, and their answers are matched by Call-ID.
func TestAppendMessageAndMatch(t *testing.T) {
	b := appendMessage(nil, "bob@partner.example", "alice@example.com", "127.0.0.1:40000", "x1", "3", 7)
	m, err := sip.ParseMessage(b)
	if err != nil {
		t.Fatalf("parse %q: %v", b, err)
	}
	req := m.(*sip.Request)
	if br, _ := req.Via().Params.Get("branch"); br != "z9hG4bK-tl-x1-3-7" {
		t.Fatalf("branch = %q", br)
	}
	if req.CallID().Value() != "tl-x1-7" || string(req.Body()) != "hello over TLS" || req.Recipient.Host != "example.com" {
		t.Fatalf("request: %q", b)
	}
	if n, ok := frame(b); !ok || n != len(b) {
		t.Fatalf("frame = %d, %v", n, ok)
	}

	r := &uacRun{prefix: "x1", sentAt: make([]atomic.Int64, 10), answered: make([]atomic.Bool, 10), s: summary{Codes: map[int]int64{}}}
	res := answer200(nil, b, "t")
	i, ok := r.indexOf(callID(res))
	if !ok || i != 7 {
		t.Fatalf("indexOf = %d, %v", i, ok)
	}
	for _, cid := range []string{"tl-x2-7", "tl-x1-", "tl-x1-70", "tl-x17", "1-2@h"} {
		if _, ok := r.indexOf([]byte(cid)); ok {
			t.Errorf("indexOf(%q) matched", cid)
		}
	}
	r.sentAt[7].Store(int64(time.Millisecond) + 1)
	r.onResponse(200, 7, 3*time.Millisecond)
	r.onResponse(200, 7, 4*time.Millisecond) // a retransmitted answer counts once
	r.onResponse(503, 8, 4*time.Millisecond) // never sent: not ours
	if r.s.OK != 1 || r.s.Failed != 0 || len(r.latencies) != 1 || r.latencies[0] != 2*time.Millisecond {
		t.Fatalf("summary %+v latencies %v", r.s, r.latencies)
	}
}
