package message

import "bytes"

// uriScheme returns the scheme of an absolute URI: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func uriScheme(b []byte) ([]byte, bool) {
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 {
		return nil, false
	}
	for i, c := range b[:colon] {
		alpha := ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !alpha && (i == 0 || (!isDigit(c) && c != '+' && c != '-' && c != '.')) {
			return nil, false
		}
	}
	return b[:colon], true
}

// ParseURI parses a SIP or SIPS URI held in b[start:end].
func ParseURI(b []byte, start, end int) (URI, bool) { return parseURI(b, start, end) }

// parseURI parses "sip:" [userinfo "@"] hostport [";" params] ["?" headers] in b[start:end].
// Nothing in it may be white space or a control character.
func parseURI(b []byte, start, end int) (URI, bool) {
	var u URI
	u.Whole = Span{int32(start), int32(end - start)}
	s := b[start:end]
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return URI{}, false
		}
	}
	sch, ok := uriScheme(s)
	if !ok || (!EqualFoldASCII(sch, "sip") && !EqualFoldASCII(sch, "sips")) {
		return URI{}, false
	}
	u.Scheme = Span{int32(start), int32(len(sch))}
	i := start + len(sch) + 1
	// The user part may hold '?', ';' and ',' (RFC 3261 25.1 user-unreserved) but never an
	// unescaped '@', and nothing after the host may hold one: the first '@' ends the user.
	if at := bytes.IndexByte(b[i:end], '@'); at >= 0 {
		if at == 0 {
			return URI{}, false
		}
		u.User = Span{int32(i), int32(at)}
		i += at + 1
	}
	q := bytes.IndexByte(b[i:end], '?')
	hostEnd := end
	if q >= 0 {
		hostEnd = i + q
		u.Headers = Span{int32(hostEnd), int32(end - hostEnd)}
	}
	// hostport, then parameters.
	if i < hostEnd && b[i] == '[' {
		rb := bytes.IndexByte(b[i:hostEnd], ']')
		if rb < 3 {
			return URI{}, false
		}
		for _, c := range b[i+1 : i+rb] {
			if !isHexDigit(c) && c != ':' && c != '.' {
				return URI{}, false
			}
		}
		u.Host = Span{int32(i + 1), int32(rb - 1)}
		u.IPv6 = true
		i += rb + 1
	} else {
		hs := i
		for i < hostEnd && isHostChar(b[i]) {
			i++
		}
		if i == hs {
			return URI{}, false
		}
		u.Host = Span{int32(hs), int32(i - hs)}
	}
	if i < hostEnd && b[i] == ':' {
		ps := i + 1
		i = ps
		for i < hostEnd && isDigit(b[i]) {
			i++
		}
		p, ok := parseUint(b[ps:i], 65535)
		if !ok || p == 0 {
			return URI{}, false
		}
		u.Port = int(p)
	}
	if i < hostEnd {
		if b[i] != ';' {
			return URI{}, false
		}
		u.Params = Span{int32(i), int32(hostEnd - i)}
		if !validParams(b[i:hostEnd]) {
			return URI{}, false
		}
	}
	return u, true
}

// validParams checks ";name[=value]" repeated, with non-empty names.
func validParams(p []byte) bool {
	for len(p) > 0 {
		if p[0] != ';' {
			return false
		}
		p = p[1:]
		n := bytes.IndexByte(p, ';')
		if n < 0 {
			n = len(p)
		}
		kv := p[:n]
		if len(kv) == 0 || kv[0] == '=' {
			return false
		}
		p = p[n:]
	}
	return true
}

func isHexDigit(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func isHostChar(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || isDigit(c) || c == '-' || c == '.' || c == '_'
}

// parseSingleNameAddr parses From or To: exactly one address.
func (m *Msg) parseSingleNameAddr(v Span) (NameAddr, bool) {
	end, ok := nextElement(m.Buf, int(v.Off), int(v.End()))
	if !ok || end != int(v.End()) {
		return NameAddr{}, false
	}
	return parseNameAddr(m.Buf, int(v.Off), int(v.End()), false)
}

// parseNameAddr parses [display-name] "<" URI ">" *(";" param), or, unless angleOnly, an
// addr-spec with header parameters. The URI may be any absolute URI in From and To (RFC 3261
// allows other schemes there); its parts are parsed when it is SIP.
func parseNameAddr(b []byte, start, end int, angleOnly bool) (NameAddr, bool) {
	var na NameAddr
	na.Whole = Span{int32(start), int32(end - start)}
	i := skipLWS(b, start)
	// Display name: a quoted string, or tokens separated by LWS, before '<'.
	if i < end && b[i] == '"' {
		j := skipQuoted(b[:end], i)
		if j < 0 {
			return NameAddr{}, false
		}
		i = skipLWS(b, j)
		if i >= end || b[i] != '<' {
			return NameAddr{}, false
		}
	} else {
		j := i
		for j < end && (isTokenChar(b[j]) || isWSP(b[j]) || b[j] == '\r' || b[j] == '\n') {
			j++
		}
		if j < end && b[j] == '<' {
			i = j
		}
	}
	var uriStart, uriEnd int
	if i < end && b[i] == '<' {
		rb := bytes.IndexByte(b[i:end], '>')
		if rb < 0 {
			return NameAddr{}, false
		}
		uriStart, uriEnd = i+1, i+rb
		i = i + rb + 1
	} else {
		if angleOnly {
			return NameAddr{}, false
		}
		// addr-spec: the URI ends at the first ';' (what follows are header parameters),
		// and may carry no '?' headers: they would be ambiguous (RFC 3261 20.10).
		uriStart = i
		for i < end && b[i] != ';' && !isWSP(b[i]) && b[i] != '\r' {
			if b[i] == '?' || b[i] == ',' {
				return NameAddr{}, false
			}
			i++
		}
		uriEnd = i
	}
	raw := b[uriStart:uriEnd]
	sch, ok := uriScheme(raw)
	if !ok {
		return NameAddr{}, false
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f {
			return NameAddr{}, false
		}
	}
	if EqualFoldASCII(sch, "sip") || EqualFoldASCII(sch, "sips") {
		u, ok := parseURI(b, uriStart, uriEnd)
		if !ok {
			return NameAddr{}, false
		}
		na.URI = u
	} else {
		na.URI = URI{Whole: Span{int32(uriStart), int32(uriEnd - uriStart)}, Scheme: Span{int32(uriStart), int32(len(sch))}}
	}
	i = skipLWS(b, i)
	if i < end {
		if b[i] != ';' {
			return NameAddr{}, false
		}
		na.Params = Span{int32(i), int32(end - i)}
		if !validHeaderParams(b, i, end) {
			return NameAddr{}, false
		}
		if t, ok := FindParam(b, na.Params, "tag"); ok {
			na.Tag, na.HasTag = t, true
		}
	}
	return na, true
}

// validHeaderParams checks *( SEMI generic-param ) with LWS allowed around the separators.
func validHeaderParams(b []byte, i, end int) bool {
	for i < end {
		if b[i] != ';' {
			return false
		}
		i = skipLWS(b, i+1)
		s := i
		for i < end && isTokenChar(b[i]) {
			i++
		}
		if i == s {
			return false
		}
		i = skipLWS(b, i)
		if i < end && b[i] == '=' {
			i = skipLWS(b, i+1)
			if i < end && b[i] == '"' {
				j := skipQuoted(b[:end], i)
				if j < 0 {
					return false
				}
				i = j
			} else {
				vs := i
				for i < end && (isTokenChar(b[i]) || b[i] == ':' || b[i] == '[' || b[i] == ']') {
					i++
				}
				if i == vs {
					return false
				}
			}
			i = skipLWS(b, i)
		}
	}
	return true
}

// Addresses calls fn for each address of a list header (Route, Record-Route, Contact): a
// comma-separated list of name-addrs. It stops when fn returns false and reports false for a
// malformed list. A Contact of "*" yields nothing.
func (m *Msg) Addresses(h Header, fn func(NameAddr) bool) bool {
	return Addresses(m.Buf, h, fn)
}

// Addresses is Msg.Addresses on any buffer.
func Addresses(b []byte, h Header, fn func(NameAddr) bool) bool {
	start, end := int(h.Value.Off), int(h.Value.End())
	if h.ID == Contact && string(bytes.TrimSpace(b[start:end])) == "*" {
		return true
	}
	angleOnly := h.ID == Route || h.ID == RecordRoute
	for start < end {
		e, ok := nextElement(b, start, end)
		if !ok {
			return false
		}
		s, t := skipLWS(b, start), trimRight(b, start, e)
		if t <= s {
			return false
		}
		na, ok := parseNameAddr(b, s, t, angleOnly)
		if !ok {
			return false
		}
		if !fn(na) {
			return true
		}
		start = e + 1
	}
	return true
}
