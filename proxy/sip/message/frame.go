package message

import (
	"bytes"
	"errors"
)

// Framing errors on a stream: after either, the stream's framing cannot be trusted and the
// connection closes (after a response, where one can be sent).
var (
	// ErrTooLarge: the message is larger than Limits.MaxSize (513).
	ErrTooLarge = errors.New("message too large")
	// ErrFraming: no or several Content-Length values, or bytes that are not SIP (400).
	ErrFraming = errors.New("cannot frame message")
)

// Frame finds the first message on a stream. It returns:
//   - skip > 0 with n == 0: that many bytes of keepalive CRLFs lead the stream (RFC 5626 4.4.1:
//     a double CRLF is a ping, answered with a single CRLF);
//   - n > 0: b[skip:skip+n] is a whole message;
//   - n == 0 and err == nil: more bytes are needed;
//   - err: ErrTooLarge or ErrFraming; headerEnd then tells how much of b is a readable header
//     block for a response (0: none).
func Frame(b []byte, lim Limits) (skip, n, headerEnd int, err error) {
	for skip+1 < len(b) && b[skip] == '\r' && b[skip+1] == '\n' {
		skip += 2
	}
	if skip > 0 {
		return skip, 0, 0, nil
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if lim.MaxSize > 0 && len(b) > lim.MaxSize {
			return 0, 0, lastCRLF(b[:lim.MaxSize]), ErrTooLarge
		}
		return 0, 0, 0, nil
	}
	hdr := end + 4
	if lim.MaxSize > 0 && hdr > lim.MaxSize {
		return 0, 0, lastCRLF(b[:lim.MaxSize]), ErrTooLarge
	}
	cl, ok := contentLength(b[:hdr])
	if !ok {
		return 0, 0, hdr, ErrFraming
	}
	total := hdr + cl
	if lim.MaxSize > 0 && total > lim.MaxSize {
		return 0, 0, hdr, ErrTooLarge
	}
	if len(b) < total {
		return 0, 0, 0, nil
	}
	return 0, total, 0, nil
}

// lastCRLF is the end of the last whole line in b, 0 when there is none.
func lastCRLF(b []byte) int {
	i := bytes.LastIndex(b, []byte("\r\n"))
	if i < 0 {
		return 0
	}
	return i + 2
}

// contentLength reads the one Content-Length of a header block (absent: 0, as a stream
// without one carries no body).
func contentLength(hdr []byte) (int, bool) {
	n, found := 0, false
	i := bytes.Index(hdr, []byte("\r\n")) + 2 // past the start line
	for i > 1 && i < len(hdr) {
		eol := bytes.Index(hdr[i:], []byte("\r\n"))
		if eol < 0 {
			break
		}
		line := hdr[i : i+eol]
		i += eol + 2
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || isWSP(line[0]) {
			continue
		}
		name := trimBytes(line[:colon])
		if !EqualFoldASCII(name, "content-length") && !EqualFoldASCII(name, "l") {
			continue
		}
		if found {
			return 0, false
		}
		v, ok := parseUint(trimBytes(line[colon+1:]), 1<<30)
		if !ok {
			return 0, false
		}
		n, found = int(v), true
	}
	return n, true
}
