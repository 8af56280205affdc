package message

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

const invite = `INVITE sip:bob@partner.com;transport=tls SIP/2.0
Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKabc;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKdef
v: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK777
Max-Forwards: 69
f: "Alice, A." <sip:alice@example.com>;tag=1928
To: Bob <sip:bob@partner.com>
i: a84b4c76e66710@10.0.0.5
CSeq: 314159 INVITE
Route: <sip:imp.example.com;lr;sfm=x>, <sip:edge.partner.com;lr>
Record-Route: <sip:10.0.0.7;lr>
m: <sip:alice@10.0.0.5:5060;transport=tcp>
Subject: folded
 value
l: 4

body`

func parse(t *testing.T, raw string, datagram bool) *Msg {
	t.Helper()
	var m Msg
	if err := Parse(&m, crlf(raw), datagram, DefaultLimits); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &m
}

func TestParseFacts(t *testing.T) {
	m := parse(t, invite, false)
	checks := []struct{ name, got, want string }{
		{"method", m.Str(m.Method), "INVITE"},
		{"request-uri", m.Str(m.RURI.Whole), "sip:bob@partner.com;transport=tls"},
		{"ruri user", m.Str(m.RURI.User), "bob"},
		{"ruri host", m.Str(m.RURI.Host), "partner.com"},
		{"ruri params", m.Str(m.RURI.Params), ";transport=tls"},
		{"top via transport", m.Str(m.TopVia.Transport), "TCP"},
		{"top via host", m.Str(m.TopVia.Host), "10.0.0.5"},
		{"top via branch", m.Str(m.TopVia.Branch), "z9hG4bKabc"},
		{"from host", m.Str(m.From.URI.Host), "example.com"},
		{"from tag", m.Str(m.From.Tag), "1928"},
		{"to host", m.Str(m.To.URI.Host), "partner.com"},
		{"call-id", m.Str(m.CallID), "a84b4c76e66710@10.0.0.5"},
		{"cseq method", m.Str(m.CSeqMethod), "INVITE"},
		{"body", m.Str(m.Body), "body"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if m.TopVia.Port != 5060 || !m.TopVia.HasRPort || m.Vias != 3 || m.CSeqNum != 314159 || m.MaxForwards != 69 || m.To.HasTag {
		t.Errorf("port %d rport %v vias %d cseq %d mf %d to-tag %v", m.TopVia.Port, m.TopVia.HasRPort, m.Vias, m.CSeqNum, m.MaxForwards, m.To.HasTag)
	}
	var routes []string
	h, _ := m.First(Route)
	m.Addresses(h, func(na NameAddr) bool { routes = append(routes, m.Str(na.URI.Host)); return true })
	if strings.Join(routes, ",") != "imp.example.com,edge.partner.com" {
		t.Errorf("routes %q", routes)
	}
}

func TestParseRefusals(t *testing.T) {
	base := "MESSAGE sip:bob@partner.com SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:bob@partner.com>\nCall-ID: c1\nCSeq: 1 MESSAGE\nMax-Forwards: 70\n"
	cases := []struct {
		name, raw string
		status    int
	}{
		{"second From", base + "From: <sip:x@evil.org>;tag=2\n\n", 400},
		{"second To", base + "To: <sip:y@partner.com>\n\n", 400},
		{"second Call-ID", base + "Call-ID: c2\n\n", 400},
		{"second CSeq", base + "CSeq: 2 MESSAGE\n\n", 400},
		{"second Max-Forwards", base + "Max-Forwards: 10\n\n", 400},
		{"From list in one header", strings.Replace(base, "From: <sip:a@example.com>;tag=1", "From: <sip:x@evil.org>;tag=2, <sip:a@example.com>;tag=1", 1) + "\n", 400},
		{"CSeq method case", strings.Replace(base, "CSeq: 1 MESSAGE", "CSeq: 1 message", 1) + "\n", 400},
		{"version", strings.Replace(base, "SIP/2.0\nVia", "SIP/7.0\nVia", 1) + "\n", 505},
		{"Max-Forwards above 255", strings.Replace(base, "Max-Forwards: 70", "Max-Forwards: 256", 1) + "\n", 400},
		{"header in Request-URI", strings.Replace(base, "sip:bob@partner.com SIP", "sip:bob@partner.com?Route=%3Csip:x%3E SIP", 1) + "\n", 400},
		{"space in To URI", strings.Replace(base, "<sip:bob@partner.com>", "<sip:bob@ partner.com>", 1) + "\n", 400},
		{"unterminated quote", strings.Replace(base, "From: <sip", "From: \"A <sip", 1) + "\n", 400},
		{"branch cookie alone", strings.Replace(base, "z9hG4bK1", "z9hG4bK", 1) + "\n", 400},
		{"too large", base + "Content-Length: 70000\n\n" + strings.Repeat("x", 70000), 513},
		{"no Via", strings.Replace(base, "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\n", "", 1) + "\n", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m Msg
			err := Parse(&m, crlf(c.raw), true, DefaultLimits)
			var perr *Error
			if !errors.As(err, &perr) || perr.Status != c.status {
				t.Fatalf("err = %v, want status %d", err, c.status)
			}
			if c.status != 0 && !m.CanRespond() {
				t.Fatal("refused but cannot respond")
			}
		})
	}
}

// An unknown method is a valid request; methods are case-sensitive, so "message" is not MESSAGE.
func TestMethodsAreCaseSensitive(t *testing.T) {
	m := parse(t, "message sip:bob@partner.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:b@partner.com>\nCall-ID: c\nCSeq: 1 message\n\n", true)
	if m.MethodIs(MESSAGE) || !m.MethodIs("message") {
		t.Fatal("method compared case-insensitively")
	}
}

func TestAppendEdited(t *testing.T) {
	m := parse(t, invite, false)
	e := Edit{
		Via:         []byte("Via: SIP/2.0/TLS fed.example.com:5061;branch=z9hG4bKsf1\r\n"),
		DropVias:    true,
		RecordRoute: []byte("Record-Route: <sip:fed.example.com:5061;transport=tls;lr>\r\n"),
		PopRoutes:   1,
		MaxForwards: m.MaxForwards - 1,
		CallID:      []byte("masked"),
		Drop:        func(m *Msg, h Header) bool { return EqualFoldASCII(m.Bytes(h.Name), "Subject") },
	}
	out := string(AppendEdited(nil, m, &e))
	want := "INVITE sip:bob@partner.com;transport=tls SIP/2.0\r\n" +
		"Via: SIP/2.0/TLS fed.example.com:5061;branch=z9hG4bKsf1\r\n" +
		"Max-Forwards: 68\r\n" +
		"f: \"Alice, A.\" <sip:alice@example.com>;tag=1928\r\n" +
		"To: Bob <sip:bob@partner.com>\r\n" +
		"Call-ID: masked\r\n" +
		"CSeq: 314159 INVITE\r\n" +
		"Route: <sip:edge.partner.com;lr>\r\n" +
		"Record-Route: <sip:fed.example.com:5061;transport=tls;lr>\r\n" +
		"Record-Route: <sip:10.0.0.7;lr>\r\n" +
		"m: <sip:alice@10.0.0.5:5060;transport=tcp>\r\n" +
		"Content-Length: 4\r\n\r\nbody"
	if out != want {
		t.Fatalf("edited:\n%s\nwant:\n%s", out, want)
	}
	// What it wrote parses, with the facts intact.
	var again Msg
	if err := Parse(&again, []byte(out), false, DefaultLimits); err != nil {
		t.Fatal(err)
	}
}

// listEcho rewrites a list as it was, one address per line.
type listEcho struct{}

func (listEcho) RewriteList(dst []byte, id HeaderID, m *Msg, addrs []NameAddr) []byte {
	for _, na := range addrs {
		dst = append(dst, id.String()...)
		dst = append(dst, ": "...)
		dst = append(dst, m.Bytes(na.Whole)...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// Every forwarded request and relayed response is edited: into a buffer with room, editing
// allocates nothing, with an address list rewritten or without (the list's scratch used to
// escape to the heap, 1.5 KiB per message).
func TestAppendEditedAllocates(t *testing.T) {
	m := parse(t, invite, false)
	dst := make([]byte, 0, 4096)
	for name, e := range map[string]*Edit{
		"no list": {PopVia: true, MaxForwards: NoMaxForwards},
		"lists":   {PopVia: true, MaxForwards: NoMaxForwards, Lists: listEcho{}, ListMask: Mask(RecordRoute) | Mask(Contact)},
	} {
		// Under the race detector, sync.Pool drops what is put back at random: make test runs
		// this test without it too (see GNUmakefile).
		if n := testing.AllocsPerRun(100, func() { dst = AppendEdited(dst[:0], m, e) }); n != 0 && !raceEnabled {
			t.Errorf("%s: editing allocated %.0f times", name, n)
		}
	}
	// The lists still come out whole.
	out := string(AppendEdited(nil, m, &Edit{Lists: listEcho{}, ListMask: Mask(RecordRoute), MaxForwards: NoMaxForwards}))
	if !strings.Contains(out, "Record-Route: <sip:10.0.0.7;lr>\r\n") {
		t.Errorf("Record-Route rewritten wrong:\n%s", out)
	}
}

func TestResponseVias(t *testing.T) {
	m := parse(t, invite, false)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	out := string(AppendResponse(nil, m, src, Response{Status: 503, Reason: "Service Unavailable", ToTag: []byte("sf1"), Extra: []byte("Retry-After: 5\r\n")}))
	for _, want := range []string{
		"SIP/2.0 503 Service Unavailable\r\n",
		"Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKabc;rport=40000;received=192.0.2.1\r\n",
		"Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKdef\r\n",
		"v: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK777\r\n",
		"To: Bob <sip:bob@partner.com>;tag=sf1\r\n",
		"Retry-After: 5\r\nContent-Length: 0\r\n\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("response lacks %q:\n%s", want, out)
		}
	}
}

func TestFrame(t *testing.T) {
	msg := string(crlf(invite))
	cases := []struct {
		name               string
		in                 string
		skip, n, headerEnd int
		err                error
	}{
		{"whole", msg + "MESSAGE", 0, len(msg), 0, nil},
		{"partial headers", msg[:40], 0, 0, 0, nil},
		{"partial body", msg[:len(msg)-2], 0, 0, 0, nil},
		{"keepalive", "\r\n\r\n" + msg, 4, 0, 0, nil},
		{"two lengths", strings.Replace(msg, "l: 4\r\n", "l: 4\r\nContent-Length: 9\r\n", 1), 0, 0, 0, ErrFraming},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			skip, n, _, err := Frame([]byte(c.in), DefaultLimits)
			if skip != c.skip || n != c.n || !errors.Is(err, c.err) {
				t.Fatalf("Frame = %d, %d, %v; want %d, %d, %v", skip, n, err, c.skip, c.n, c.err)
			}
		})
	}
	big := "MESSAGE sip:a@b SIP/2.0\r\nX: " + strings.Repeat("y", 70000)
	if _, _, he, err := Frame([]byte(big), DefaultLimits); !errors.Is(err, ErrTooLarge) || he != len("MESSAGE sip:a@b SIP/2.0\r\n") {
		t.Fatalf("unterminated oversize headers: headerEnd %d, %v", he, err)
	}
}
