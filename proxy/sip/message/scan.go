package message

// Lexical rules of RFC 3261 section 25.1.

var tokenChars [256]bool

func init() {
	for c := 'a'; c <= 'z'; c++ {
		tokenChars[c] = true
		tokenChars[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		tokenChars[c] = true
	}
	for _, c := range "-.!%*_+`'~" {
		tokenChars[c] = true
	}
}

func isTokenChar(c byte) bool { return tokenChars[c] }

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipLWS skips linear white space from i: spaces, tabs, and a CRLF followed by a space or tab
// (a folded line).
func skipLWS(b []byte, i int) int {
	for i < len(b) {
		switch {
		case isWSP(b[i]):
			i++
		case b[i] == '\r' && i+2 < len(b) && b[i+1] == '\n' && isWSP(b[i+2]):
			i += 3
		default:
			return i
		}
	}
	return i
}

// skipQuoted skips a quoted-string starting at b[i] == '"'; it returns the index after the
// closing quote, or -1 when the string does not end.
func skipQuoted(b []byte, i int) int {
	i++
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
		case '"':
			return i + 1
		default:
			i++
		}
	}
	return -1
}

// trimRight returns the end of b[start:end] without trailing white space (folding included).
func trimRight(b []byte, start, end int) int {
	for end > start && (isWSP(b[end-1]) || b[end-1] == '\r' || b[end-1] == '\n') {
		end--
	}
	return end
}

// elementStop marks the bytes nextElement must look at.
var elementStop = [256]bool{'"': true, '<': true, '>': true, ',': true}

// nextElement returns the end of the comma-separated element starting at i (the index of the
// comma, or end): commas inside quoted strings and angle brackets do not count. ok is false for
// an unbalanced quote or bracket.
func nextElement(b []byte, i, end int) (int, bool) {
	depth := 0
	b = b[:end]
	for i < end {
		// Most bytes are none of the four that matter: skip them by table. This runs over
		// every Via, From, To and address list of every message.
		for i < end && !elementStop[b[i]] {
			i++
		}
		if i >= end {
			break
		}
		switch b[i] {
		case '"':
			j := skipQuoted(b, i)
			if j < 0 {
				return end, false
			}
			i = j
			continue
		case '<':
			depth++
		case '>':
			depth--
			if depth < 0 {
				return end, false
			}
		case ',':
			if depth == 0 {
				return i, true
			}
		}
		i++
	}
	return end, depth == 0
}

// parseUint parses decimal digits, refusing empty input and values above max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > max {
			return 0, false
		}
	}
	return v, true
}

func trimBytes(b []byte) []byte {
	for len(b) > 0 && isWSP(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWSP(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
