package main

import (
	"bytes"
	"strconv"
)

// The raw modes frame, read and write SIP themselves: a generator on one core must cost far less
// than the proxy it measures, and sipgo's parser (an object per header) and message building
// cost the generator more than its syscalls at 10,000 requests/s. They only need a message's
// framing (Content-Length), its status or method, its Call-ID, and the headers a UAS copies into
// its answer (RFC 3261 8.2.6.2); the rest is left as bytes.

var crlf2 = []byte("\r\n\r\n")

// frame reports the length of the complete SIP message at the start of b, or 0 when b does not
// hold one yet. ok is false when the header block is unreadable (a Content-Length that is not a
// number): the stream cannot be framed any more.
func frame(b []byte) (n int, ok bool) {
	end := bytes.Index(b, crlf2)
	if end < 0 {
		return 0, true
	}
	cl := 0
	_, rest, _ := bytes.Cut(b[:end+2], []byte("\r\n"))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("l")) {
			v, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || v < 0 {
				return 0, false
			}
			cl = v
		}
	}
	total := end + 4 + cl
	if len(b) < total {
		return 0, true
	}
	return total, true
}

// skipCRLF drops the CRLFs that keep a stream connection alive (RFC 5626 4.4.1).
func skipCRLF(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

// headerKind names the headers the raw modes look at; compact forms (RFC 3261 7.3.3) included.
type headerKind int

const (
	hOther headerKind = iota
	hVia
	hFrom
	hTo
	hCallID
	hCSeq
	hRecordRoute
)

func kindOf(name []byte) headerKind {
	name = bytes.TrimSpace(name)
	switch len(name) {
	case 1:
		switch name[0] | 0x20 {
		case 'v':
			return hVia
		case 'f':
			return hFrom
		case 't':
			return hTo
		case 'i':
			return hCallID
		}
	case 2:
		if bytes.EqualFold(name, []byte("To")) {
			return hTo
		}
	case 3:
		if bytes.EqualFold(name, []byte("Via")) {
			return hVia
		}
	case 4:
		if bytes.EqualFold(name, []byte("From")) {
			return hFrom
		}
		if bytes.EqualFold(name, []byte("CSeq")) {
			return hCSeq
		}
	case 7:
		if bytes.EqualFold(name, []byte("Call-ID")) {
			return hCallID
		}
	case 12:
		if bytes.EqualFold(name, []byte("Record-Route")) {
			return hRecordRoute
		}
	}
	return hOther
}

// eachHeader calls fn for every header line of msg (start line and body left out).
func eachHeader(msg []byte, fn func(kind headerKind, line, value []byte)) {
	end := bytes.Index(msg, crlf2)
	if end < 0 {
		return
	}
	_, rest, _ := bytes.Cut(msg[:end+2], []byte("\r\n"))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		fn(kindOf(name), line, value)
	}
}

// isResponse reports whether msg is a response, and its status code.
func isResponse(msg []byte) (int, bool) {
	if len(msg) < 12 || !bytes.HasPrefix(msg, []byte("SIP/2.0 ")) {
		return 0, false
	}
	code, err := strconv.Atoi(string(msg[8:11]))
	if err != nil {
		return 0, false
	}
	return code, true
}

// hasTag reports whether a From or To value carries a tag parameter.
func hasTag(value []byte) bool {
	if i := bytes.LastIndexByte(value, '>'); i >= 0 {
		value = value[i:]
	}
	for {
		i := bytes.IndexByte(value, ';')
		if i < 0 {
			return false
		}
		value = bytes.TrimLeft(value[i+1:], " \t")
		if len(value) >= 4 && bytes.EqualFold(value[:3], []byte("tag")) && (value[3] == '=' || value[3] == ' ') {
			return true
		}
	}
}

// answer200 appends a 200 OK to request msg (Via, Record-Route, From, To with our tag, Call-ID
// and CSeq copied, in order) to dst. A response or an ACK gets nothing.
func answer200(dst, msg []byte, tag string) []byte {
	if _, resp := isResponse(msg); resp || bytes.HasPrefix(msg, []byte("ACK ")) {
		return dst
	}
	dst = append(dst, "SIP/2.0 200 OK\r\n"...)
	eachHeader(msg, func(kind headerKind, line, value []byte) {
		switch kind {
		case hVia, hRecordRoute, hFrom, hCallID, hCSeq:
			dst = append(dst, line...)
			dst = append(dst, "\r\n"...)
		case hTo:
			dst = append(dst, bytes.TrimRight(line, " \t")...)
			if !hasTag(value) {
				dst = append(dst, ";tag="...)
				dst = append(dst, tag...)
			}
			dst = append(dst, "\r\n"...)
		}
	})
	return append(dst, "Content-Length: 0\r\n\r\n"...)
}

// callID is the trimmed Call-ID of msg, nil when it has none.
func callID(msg []byte) []byte {
	var id []byte
	eachHeader(msg, func(kind headerKind, _, value []byte) {
		if kind == hCallID && id == nil {
			id = bytes.TrimSpace(value)
		}
	})
	return id
}
