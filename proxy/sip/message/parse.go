package message

import (
	"bytes"
	"strconv"
)

// Error is why a message was refused, and the response it deserves: Status 0 means none can be
// sent (no usable Via, or a response, which is never answered) and the message is dropped.
type Error struct {
	Status int
	Reason string // for logs and the Warning text, never the raw bytes
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "dropped: " + e.Reason
	}
	return strconv.Itoa(e.Status) + " " + e.Reason
}

func bad(reason string) *Error { return &Error{Status: 400, Reason: reason} }

// Limits bound what Parse accepts.
type Limits struct {
	// MaxSize is the largest message, headers and body (513 above it).
	MaxSize int
	// MaxHeaders bounds the header fields of one message.
	MaxHeaders int
}

// DefaultLimits are what the proxy uses unless told otherwise.
var DefaultLimits = Limits{MaxSize: 65535, MaxHeaders: 256}

// Parse parses buf, which holds one whole message, into m; m keeps buf. Over a datagram
// transport, Content-Length bounds the body within buf (a longer datagram is cut, a shorter one
// refused); over a stream the framer has cut buf at Content-Length already.
//
// On error m holds what could be read, so that a refusal can still copy Via, From, To,
// Call-ID and CSeq into its response: the caller answers *Error.Status when it is not 0 and
// m.CanRespond() says the headers for it are there.
func Parse(m *Msg, buf []byte, datagram bool, lim Limits) error {
	m.Reset()
	m.Buf = buf
	i := 0
	// RFC 3261 7.5: CRLFs before the start line are ignored.
	for i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n' {
		i += 2
	}
	eol := bytes.Index(buf[i:], []byte("\r\n"))
	if eol < 0 {
		return &Error{Reason: "no start line"}
	}
	line := buf[i : i+eol]
	var startErr *Error
	if isStatusLine(line) {
		if err := m.parseStatusLine(i, line); err != nil {
			return err
		}
	} else {
		m.IsRequest = true
		startErr = m.parseRequestLine(i, line)
	}
	i += eol + 2

	hdrEnd, err := m.parseHeaders(i, datagram, lim)
	if err != nil {
		return err
	}
	if herr := m.parseFacts(); herr != nil {
		if startErr != nil && startErr.Status == 400 {
			return startErr
		}
		return herr
	}
	if startErr != nil {
		return startErr
	}
	if err := m.frameBody(hdrEnd, datagram); err != nil {
		return err
	}
	if lim.MaxSize > 0 && int(m.Body.End()) > lim.MaxSize {
		return &Error{Status: 513, Reason: "message larger than " + strconv.Itoa(lim.MaxSize) + " bytes"}
	}
	if m.IsRequest {
		return m.checkRequest()
	}
	return nil
}

func isStatusLine(line []byte) bool {
	return len(line) >= 8 && EqualFoldASCII(line[:4], "SIP/") && isDigit(line[4])
}

// parseRequestLine reads Method SP Request-URI SP SIP-Version, one space apart (RFC 3261
// 7.1): anything looser is refused rather than guessed at.
func (m *Msg) parseRequestLine(off int, line []byte) *Error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return bad("malformed request line")
	}
	for _, c := range line[:sp1] {
		if !isTokenChar(c) {
			return bad("method is not a token")
		}
	}
	m.Method = Span{int32(off), int32(sp1)}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return bad("malformed request line")
	}
	version := rest[sp2+1:]
	uri := rest[:sp2]
	for _, c := range uri {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return bad("malformed Request-URI")
		}
	}
	if !validVersion(version) {
		return bad("malformed SIP version")
	}
	uoff := off + sp1 + 1
	m.RURI.Whole = Span{int32(uoff), int32(sp2)}
	if sch, ok := uriScheme(uri); ok && (EqualFoldASCII(sch, "sip") || EqualFoldASCII(sch, "sips")) {
		u, ok := parseURI(m.Buf, uoff, uoff+sp2)
		if !ok || !u.Headers.IsZero() {
			// Headers in a Request-URI are never valid (RFC 3261 19.1.5): they would be
			// header fields smuggled past this proxy.
			return bad("malformed Request-URI")
		}
		m.RURI = u
	} else if !ok {
		return bad("malformed Request-URI")
	} else {
		m.RURI.Scheme = Span{int32(uoff), int32(len(sch))}
	}
	if !EqualFoldASCII(version, "SIP/2.0") {
		return &Error{Status: 505, Reason: "SIP version " + sanitize(version) + " not supported"}
	}
	return nil
}

// validVersion checks "SIP/" 1*DIGIT "." 1*DIGIT.
func validVersion(v []byte) bool {
	if len(v) < 7 || !EqualFoldASCII(v[:4], "SIP/") {
		return false
	}
	dot := bytes.IndexByte(v[4:], '.')
	if dot <= 0 {
		return false
	}
	major, minor := v[4:4+dot], v[5+dot:]
	if len(minor) == 0 {
		return false
	}
	for _, c := range major {
		if !isDigit(c) {
			return false
		}
	}
	for _, c := range minor {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func (m *Msg) parseStatusLine(off int, line []byte) *Error {
	if !EqualFoldASCII(line[:7], "SIP/2.0") || len(line) < 11 || line[7] != ' ' {
		return &Error{Reason: "malformed status line"}
	}
	code, ok := parseUint(line[8:11], 999)
	if !ok || code < 100 || code > 699 || (len(line) > 11 && line[11] != ' ') {
		return &Error{Reason: "malformed status code"}
	}
	m.Status = int(code)
	if len(line) > 12 {
		m.Reason = Span{int32(off + 12), int32(len(line) - 12)}
	}
	return nil
}

// parseHeaders reads header fields from i to the empty line and returns where the body starts.
func (m *Msg) parseHeaders(i int, datagram bool, lim Limits) (int, error) {
	b := m.Buf
	for {
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2, nil
		}
		if i >= len(b) {
			if datagram && i > 0 {
				// A datagram ends the message: a missing empty line loses no framing.
				return i, nil
			}
			return 0, m.errNoEnd()
		}
		if isWSP(b[i]) {
			return 0, bad("header block starts with white space")
		}
		lineStart := i
		for i < len(b) && isTokenChar(b[i]) {
			i++
		}
		nameEnd := i
		if nameEnd == lineStart {
			return 0, bad("malformed header name")
		}
		for i < len(b) && isWSP(b[i]) {
			i++
		}
		if i >= len(b) || b[i] != ':' {
			return 0, bad("header line without a colon")
		}
		i++
		// The value runs to the CRLF that is not followed by white space.
		vs := skipLWS(b, i)
		j := vs
		for {
			k := bytes.IndexByte(b[j:], '\r')
			if k < 0 || j+k+1 >= len(b) || b[j+k+1] != '\n' {
				return 0, m.errNoEnd()
			}
			j += k + 2
			if j < len(b) && isWSP(b[j]) {
				continue
			}
			break
		}
		lineEnd := j
		ve := trimRight(b, vs, lineEnd)
		if ve < vs {
			ve = vs
		}
		if lim.MaxHeaders > 0 && len(m.Headers) >= lim.MaxHeaders {
			return 0, bad("too many header fields")
		}
		m.Headers = append(m.Headers, Header{
			ID:    lookupHeader(b[lineStart:nameEnd]),
			Name:  Span{int32(lineStart), int32(nameEnd - lineStart)},
			Value: Span{int32(vs), int32(ve - vs)},
			Line:  Span{int32(lineStart), int32(lineEnd - lineStart)},
		})
		i = lineEnd
	}
}

func (m *Msg) errNoEnd() error {
	if m.IsRequest {
		return bad("header block does not end")
	}
	return &Error{Reason: "header block does not end"}
}

// frameBody sets Body from Content-Length.
func (m *Msg) frameBody(start int, datagram bool) error {
	rest := len(m.Buf) - start
	n := m.ContentLength
	switch {
	case n < 0 && datagram:
		n = rest
	case n < 0:
		n = 0
	case n > rest:
		return m.refuse(400, "Content-Length larger than the message")
	}
	m.Body = Span{int32(start), int32(n)}
	return nil
}

// refuse is a 400 for requests; a bad response is dropped.
func (m *Msg) refuse(status int, reason string) *Error {
	if !m.IsRequest {
		return &Error{Reason: reason}
	}
	return &Error{Status: status, Reason: reason}
}

// parseFacts reads the headers a proxy decides by; each of them must appear once. It reads
// every header even after an error, so that a refusal can copy what it needs.
func (m *Msg) parseFacts() error {
	var seen [Allow + 1]int
	var first *Error
	fail := func(e *Error) {
		if first == nil {
			first = e
		}
	}
	for hi := range m.Headers {
		h := &m.Headers[hi]
		seen[h.ID]++
		if seen[h.ID] == 1 && h.ID != Other {
			m.firstOf[h.ID] = int16(hi + 1)
		}
		switch h.ID {
		case Via:
			if err := m.parseVias(h); err != nil {
				fail(err)
			}
		case From, To:
			if seen[h.ID] > 1 {
				fail(m.refuse(400, "more than one "+h.ID.String()+" header"))
				continue
			}
			na, ok := m.parseSingleNameAddr(h.Value)
			if !ok {
				fail(m.refuse(400, "malformed "+h.ID.String()+" header"))
				continue
			}
			if h.ID == From {
				m.From = na
			} else {
				m.To = na
			}
		case CallID:
			if seen[CallID] > 1 {
				fail(m.refuse(400, "more than one Call-ID header"))
			} else if !validCallID(m.Bytes(h.Value)) {
				fail(m.refuse(400, "malformed Call-ID header"))
			} else {
				m.CallID = h.Value
			}
		case CSeq:
			if seen[CSeq] > 1 {
				fail(m.refuse(400, "more than one CSeq header"))
			} else if !m.parseCSeq(h.Value) {
				fail(m.refuse(400, "malformed CSeq header"))
			}
		case MaxForwards:
			if seen[MaxForwards] > 1 {
				fail(m.refuse(400, "more than one Max-Forwards header"))
			} else if v, ok := parseUint(m.Bytes(h.Value), 255); !ok {
				fail(m.refuse(400, "malformed Max-Forwards header"))
			} else {
				m.MaxForwards = int(v)
			}
		case ContentLength:
			if seen[ContentLength] > 1 {
				fail(m.refuse(400, "more than one Content-Length header"))
			} else if v, ok := parseUint(m.Bytes(h.Value), 1<<30); !ok {
				fail(m.refuse(400, "malformed Content-Length header"))
			} else {
				m.ContentLength = int(v)
			}
		case Route, RecordRoute, Contact:
			// The proxy pops, reads and (hiding topology) rewrites these: an address it
			// cannot read would be a guess.
			if !m.Addresses(*h, func(NameAddr) bool { return true }) {
				fail(m.refuse(400, "malformed "+h.ID.String()+" header"))
			}
		}
	}
	if seen[Via] == 0 {
		return &Error{Reason: "no Via header"}
	}
	if first != nil {
		return first
	}
	if seen[From] == 0 || seen[To] == 0 || seen[CallID] == 0 || seen[CSeq] == 0 {
		return m.refuse(400, "missing From, To, Call-ID or CSeq")
	}
	return nil
}

// checkRequest applies the rules that tie a request's parts together.
func (m *Msg) checkRequest() error {
	if !bytes.Equal(m.Bytes(m.Method), m.Bytes(m.CSeqMethod)) {
		return bad("CSeq method does not match the request method")
	}
	if m.HasBranchCookieOnly() {
		return bad("Via branch has the magic cookie and nothing else")
	}
	return nil
}

// HasBranchCookieOnly reports a branch that is the magic cookie alone: a stateful proxy would
// merge every such request into one transaction.
func (m *Msg) HasBranchCookieOnly() bool {
	return string(m.Bytes(m.TopVia.Branch)) == BranchCookie
}

// CanRespond reports whether a response to m can reach its sender: a request with a readable
// top Via. The response copies the From, To, Call-ID and CSeq lines that are there, as they
// came (RFC 3261 8.2.6.2).
func (m *Msg) CanRespond() bool {
	return m.IsRequest && !m.TopVia.Host.IsZero()
}

// First returns the first header with that ID, without a search.
func (m *Msg) First(id HeaderID) (Header, bool) {
	if i := m.firstOf[id]; i != 0 {
		return m.Headers[i-1], true
	}
	return Header{}, false
}

func validCallID(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// parseCSeq reads 1*DIGIT LWS Method; the number must be below 2**31 (RFC 3261 8.1.1.5).
func (m *Msg) parseCSeq(v Span) bool {
	b := m.Bytes(v)
	i := 0
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	n, ok := parseUint(b[:i], 1<<31-1)
	if !ok {
		return false
	}
	j := skipLWS(b, i)
	if j == i || j >= len(b) {
		return false
	}
	k := j
	for k < len(b) && isTokenChar(b[k]) {
		k++
	}
	if k != len(b) {
		return false
	}
	m.CSeqNum = uint32(n)
	m.CSeqMethod = Span{v.Off + int32(j), int32(k - j)}
	return true
}

// sanitize renders untrusted bytes for a log line or a reason: printable ASCII only, bounded.
func sanitize(b []byte) string {
	const max = 32
	out := make([]byte, 0, min(len(b), max))
	for _, c := range b {
		if len(out) == max {
			break
		}
		if c < ' ' || c > '~' {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

// Sanitize is sanitize for callers logging an excerpt of a bad message.
func Sanitize(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < ' ' || c > '~' {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}

// lookupHeader maps a header name, long or compact, case-insensitively.
func lookupHeader(name []byte) HeaderID {
	if len(name) == 1 {
		switch lowerASCII(name[0]) {
		case 'v':
			return Via
		case 'f':
			return From
		case 't':
			return To
		case 'i':
			return CallID
		case 'm':
			return Contact
		case 'l':
			return ContentLength
		case 'c':
			return ContentType
		case 'k':
			return Supported
		}
		return Other
	}
	for id := Via; id <= Allow; id++ {
		if EqualFoldASCII(name, headerNames[id]) {
			return id
		}
	}
	return Other
}
