// Package message holds SIP messages as the proxy's hot path sees them: the bytes as they
// arrived, and the positions of what a proxy reads (RFC 3261 section 16) parsed once, strictly.
// Everything else travels as the sender wrote it. Nothing here copies a header to read it:
// a Span is an offset and a length into the message's own buffer.
//
// Parsing is strict where a proxy's decisions depend on a field (one From, To, Call-ID, CSeq,
// Max-Forwards and Content-Length; a well-formed top Via; SIP/2.0) and lenient where only the
// far end cares (bodies, Date, Require, display names of headers it does not read). Methods are
// case-sensitive tokens (RFC 3261 section 7.1): an unknown method is a valid request.
package message

import (
	"bytes"
	"strconv"
)

// Span is a part of a message: Off and Len into its buffer.
type Span struct {
	Off, Len int32
}

// End is the offset just past the span.
func (s Span) End() int32 { return s.Off + s.Len }

// IsZero reports whether the span is empty.
func (s Span) IsZero() bool { return s.Len == 0 }

// HeaderID names the headers the proxy reads; every other header is Other.
type HeaderID uint8

// Known headers.
const (
	Other HeaderID = iota
	Via
	From
	To
	CallID
	CSeq
	MaxForwards
	Route
	RecordRoute
	Contact
	ContentLength
	ContentType
	ProxyRequire
	Require
	Supported
	Warning
	RetryAfter
	Allow
)

var headerNames = [...]string{
	Other: "", Via: "Via", From: "From", To: "To", CallID: "Call-ID", CSeq: "CSeq",
	MaxForwards: "Max-Forwards", Route: "Route", RecordRoute: "Record-Route", Contact: "Contact",
	ContentLength: "Content-Length", ContentType: "Content-Type", ProxyRequire: "Proxy-Require",
	Require: "Require", Supported: "Supported", Warning: "Warning", RetryAfter: "Retry-After",
	Allow: "Allow",
}

// Name is the header's canonical long name.
func (id HeaderID) String() string { return headerNames[id] }

// Header is one header field as it arrived. Line covers the name, the value, folded
// continuation lines and the final CRLF; Value is the value without surrounding whitespace.
type Header struct {
	ID    HeaderID
	Name  Span
	Value Span
	Line  Span
}

// URI is a SIP or SIPS URI's parts, as spans into the message. Params covers the URI
// parameters including their leading ';' (e.g. ";transport=tls;lr"); Headers the '?' part.
type URI struct {
	Whole   Span
	Scheme  Span
	User    Span
	Host    Span // without the brackets of an IPv6 reference
	Port    int  // 0 when absent
	Params  Span
	Headers Span
	IPv6    bool
}

// NameAddr is an address header's value: From, To, Contact, Route, Record-Route. Whole covers
// the value with its header parameters; Tag is the tag parameter's value.
type NameAddr struct {
	Whole  Span
	URI    URI
	Params Span // header parameters after the address, including the leading ';'
	Tag    Span
	HasTag bool
}

// ViaHop is one Via value: "SIP/2.0/TLS host:port;branch=...".
type ViaHop struct {
	Whole     Span
	Transport Span
	Host      Span // without brackets
	Port      int
	Branch    Span
	Received  Span
	RPort     Span // the value; HasRPort is set for a bare ";rport" too
	HasRPort  bool
	Params    Span // every parameter, with the leading ';'
	IPv6      bool
}

// Msg is a parsed message. It owns Buf; spans point into it.
type Msg struct {
	Buf []byte

	IsRequest bool
	Method    Span // request
	RURI      URI  // request (Whole spans the whole Request-URI, whatever its scheme)
	Status    int  // response
	Reason    Span // response

	Headers []Header

	// The facts a proxy reads, parsed once.
	TopVia        ViaHop
	Vias          int // Via values, comma-separated ones counted apart
	From, To      NameAddr
	CallID        Span
	CSeqNum       uint32
	CSeqMethod    Span
	MaxForwards   int // -1 when absent
	ContentLength int // -1 when absent
	Body          Span

	firstOf [Allow + 1]int16 // index+1 of each known header's first occurrence
}

// Bytes returns the bytes of a span.
func (m *Msg) Bytes(s Span) []byte { return m.Buf[s.Off:s.End()] }

// Str returns a span as a string (a copy).
func (m *Msg) Str(s Span) string { return string(m.Buf[s.Off:s.End()]) }

// MethodIs reports whether the request's method is exactly name (methods are case-sensitive).
func (m *Msg) MethodIs(name string) bool {
	return m.IsRequest && string(m.Bytes(m.Method)) == name
}

// CSeqMethodIs reports whether the CSeq method is exactly name.
func (m *Msg) CSeqMethodIs(name string) bool { return string(m.Bytes(m.CSeqMethod)) == name }

// Reset empties m for reuse, keeping its allocations.
func (m *Msg) Reset() {
	hs := m.Headers[:0]
	*m = Msg{Headers: hs, MaxForwards: -1, ContentLength: -1}
}

// Methods the proxy treats specially.
const (
	INVITE    = "INVITE"
	ACK       = "ACK"
	CANCEL    = "CANCEL"
	BYE       = "BYE"
	OPTIONS   = "OPTIONS"
	MESSAGE   = "MESSAGE"
	SUBSCRIBE = "SUBSCRIBE"
	NOTIFY    = "NOTIFY"
	REFER     = "REFER"
)

// BranchCookie starts every RFC 3261 branch.
const BranchCookie = "z9hG4bK"

// HasRFC3261Branch reports whether the top Via's branch starts with the magic cookie.
func (m *Msg) HasRFC3261Branch() bool {
	b := m.Bytes(m.TopVia.Branch)
	return len(b) > len(BranchCookie) && string(b[:len(BranchCookie)]) == BranchCookie
}

// EqualFoldASCII compares ASCII bytes case-insensitively.
func EqualFoldASCII(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Param returns the value of parameter name (case-insensitive) in a ";a=b;c" span, and
// whether it is present.
func (m *Msg) Param(params Span, name string) (Span, bool) {
	return FindParam(m.Buf, params, name)
}

// FindParam is Param on any buffer.
func FindParam(buf []byte, params Span, name string) (Span, bool) {
	b := buf[params.Off:params.End()]
	for i := 0; i < len(b); {
		var key []byte
		var val Span
		key, val, i = nextParam(b, i, params.Off)
		if key != nil && EqualFoldASCII(key, name) {
			return val, true
		}
	}
	return Span{}, false
}

// nextParam reads the parameter after the next ';' at or after b[i]: its name, its value (a
// span of the whole buffer, b starting at base; zero without '='), and where reading goes on.
// key is nil when no ';' is left.
func nextParam(b []byte, i int, base int32) (key []byte, val Span, next int) {
	j := bytes.IndexByte(b[i:], ';')
	if j < 0 {
		return nil, Span{}, len(b)
	}
	i = skipLWS(b, i+j+1)
	start := i
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	key = b[start:i]
	i = skipLWS(b, i)
	if i < len(b) && b[i] == '=' {
		i = skipLWS(b, i+1)
		vs := i
		if i < len(b) && b[i] == '"' {
			i = skipQuoted(b, i)
			if i < 0 {
				i = len(b)
			}
		} else {
			for i < len(b) && b[i] != ';' && b[i] != ',' && !isWSP(b[i]) && b[i] != '\r' {
				i++
			}
		}
		val = Span{base + int32(vs), int32(i - vs)}
	}
	return key, val, i
}

// AppendUint appends v in decimal.
func AppendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

// HostPortEqual reports whether a span holds host (case-insensitive).
func (m *Msg) HostIs(s Span, host string) bool { return EqualFoldASCII(m.Bytes(s), host) }
