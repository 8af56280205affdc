package routing

import (
	"context"
	"errors"
	"strings"
)

// What a DNS lookup can come to besides records. A DNS implementation wraps them (see DNSError) so
// that the explanation can say "NXDOMAIN" rather than a resolver's prose.
var (
	ErrNXDOMAIN  = errors.New("NXDOMAIN")
	ErrSERVFAIL  = errors.New("SERVFAIL")
	ErrTimeout   = errors.New("timeout")
	ErrNoRecords = errors.New("no records")
)

// DNSError is the error a DNS implementation returns for a lookup that gave no records.
type DNSError struct {
	Name   string // the name looked up
	Type   string // "SRV", "A", "AAAA" or "A/AAAA"
	Server string // the server whose answer decided, when one answered
	Err    error  // ErrNXDOMAIN, ErrSERVFAIL, ErrTimeout, ErrNoRecords or another cause
	Cached bool   // answered from the negative cache
}

func (e *DNSError) Error() string {
	var b strings.Builder
	b.WriteString("lookup ")
	b.WriteString(e.Name)
	if e.Type != "" {
		b.WriteByte(' ')
		b.WriteString(e.Type)
	}
	if e.Server != "" {
		b.WriteString(" on ")
		b.WriteString(e.Server)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	if e.Cached {
		b.WriteString(" (cached)")
	}
	return b.String()
}

func (e *DNSError) Unwrap() error { return e.Err }

// DNSErrorCode names what a lookup error came to, the way an operator reads it in an explanation:
// "NXDOMAIN", "SERVFAIL", "timeout", "no records", or the error's text for anything else.
func DNSErrorCode(err error) string {
	for _, known := range [...]error{ErrNXDOMAIN, ErrSERVFAIL, ErrTimeout, ErrNoRecords} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout.Error()
	}
	if errors.Is(err, errNoResolver) {
		return errNoResolver.Error()
	}
	return err.Error()
}

// dnsErrorCached reports whether err came from a negative cache.
func dnsErrorCached(err error) bool {
	var de *DNSError
	return errors.As(err, &de) && de.Cached
}

var errNoResolver = errors.New("no DNS resolver configured")
