package message

// parseVias reads every value of a Via header; the first value of the first Via is the top.
func (m *Msg) parseVias(h *Header) *Error {
	b := m.Buf
	start, end := int(h.Value.Off), int(h.Value.End())
	for {
		e, ok := nextElement(b, start, end)
		if !ok {
			return m.viaErr()
		}
		s, t := skipLWS(b, start), trimRight(b, start, e)
		hop, ok := parseViaHop(b, s, t)
		if !ok {
			if m.Vias == 0 {
				// A response still needs the sender's address: keep what can be read.
				m.TopVia = hop
			}
			return m.viaErr()
		}
		if m.Vias == 0 {
			m.TopVia = hop
		}
		m.Vias++
		if e >= end {
			return nil
		}
		start = e + 1
	}
}

// viaErr refuses a bad Via. When the top Via's sent-by could be read, a 400 can still reach
// the sender.
func (m *Msg) viaErr() *Error {
	if m.Vias == 0 && m.TopVia.Host.IsZero() {
		return &Error{Reason: "malformed top Via"}
	}
	return m.refuse(400, "malformed Via header")
}

// parseViaHop parses sent-protocol LWS sent-by *( SEMI via-params ), where sent-protocol is
// name SLASH version SLASH transport with optional white space around each slash.
func parseViaHop(b []byte, start, end int) (ViaHop, bool) {
	var v ViaHop
	v.Whole = Span{int32(start), int32(end - start)}
	i := start
	var tok [3]Span
	for n := 0; n < 3; n++ {
		if n > 0 {
			i = skipLWS(b, i)
			if i >= end || b[i] != '/' {
				return ViaHop{}, false
			}
			i = skipLWS(b, i+1)
		}
		s := i
		for i < end && isTokenChar(b[i]) {
			i++
		}
		if i == s {
			return ViaHop{}, false
		}
		tok[n] = Span{int32(s), int32(i - s)}
	}
	v.Transport = tok[2]
	j := skipLWS(b, i)
	if j == i {
		return ViaHop{}, false
	}
	i = j
	// sent-by: host [ COLON port ]
	if i < end && b[i] == '[' {
		k := i + 1
		for k < end && (isHexDigit(b[k]) || b[k] == ':' || b[k] == '.') {
			k++
		}
		if k >= end || b[k] != ']' || k == i+1 {
			return ViaHop{}, false
		}
		v.Host, v.IPv6 = Span{int32(i + 1), int32(k - i - 1)}, true
		i = k + 1
	} else {
		s := i
		for i < end && isHostChar(b[i]) {
			i++
		}
		if i == s {
			return ViaHop{}, false
		}
		v.Host = Span{int32(s), int32(i - s)}
	}
	k := skipLWS(b, i)
	if k < end && b[k] == ':' {
		k = skipLWS(b, k+1)
		s := k
		for k < end && isDigit(b[k]) {
			k++
		}
		p, ok := parseUint(b[s:k], 65535)
		if !ok || p == 0 {
			return ViaHop{}, false
		}
		v.Port = int(p)
		i = k
	}
	i = skipLWS(b, i)
	if i < end {
		if b[i] != ';' || !validHeaderParams(b, i, end) {
			return v, false
		}
		v.Params = Span{int32(i), int32(end - i)}
		// One pass for the three parameters the proxy reads, the first of each name as
		// FindParam would find it: every Via of every message goes through here.
		ps := b[i:end]
		var haveBranch, haveReceived bool
		for j := 0; j < len(ps); {
			var key []byte
			var val Span
			key, val, j = nextParam(ps, j, v.Params.Off)
			switch {
			case key == nil:
			case !haveBranch && EqualFoldASCII(key, "branch"):
				v.Branch, haveBranch = val, true
			case !haveReceived && EqualFoldASCII(key, "received"):
				v.Received, haveReceived = val, true
			case !v.HasRPort && EqualFoldASCII(key, "rport"):
				v.RPort, v.HasRPort = val, true
			}
		}
	}
	return v, true
}

// EachVia calls fn for each Via value of h, in order, until fn returns false. Values that do
// not parse are skipped (Parse refused any such message already).
func (m *Msg) EachVia(h Header, fn func(ViaHop) bool) {
	b := m.Buf
	start, end := int(h.Value.Off), int(h.Value.End())
	for start < end {
		e, ok := nextElement(b, start, end)
		if !ok {
			return
		}
		if hop, ok := parseViaHop(b, skipLWS(b, start), trimRight(b, start, e)); ok && !fn(hop) {
			return
		}
		start = e + 1
	}
}
