package routing

import (
	"context"
	"errors"
	"strings"
	"time"
)

// What a DNS lookup can come to besides records. A DNS implementation wraps them (see DNSError) so
// that the explanation can say "NXDOMAIN" rather than a resolver's prose.
var (
	ErrNXDOMAIN = errors.New("NXDOMAIN")
	ErrSERVFAIL = errors.New("SERVFAIL")
	ErrTimeout  = errors.New("timeout")
	ErrRefused  = errors.New("REFUSED")
	// ErrServer is a DNS server that could not be asked (unreachable) or answered with another
	// error rcode: no answer about the name.
	ErrServer    = errors.New("server error")
	ErrNoRecords = errors.New("no records")
)

// DefaultRetryAfter is the Retry-After of a 503 for a DNS failure whose error does not say when
// DNS will be asked again.
const DefaultRetryAfter = 10 * time.Second

// DNSError is the error a DNS implementation returns for a lookup that gave no records.
type DNSError struct {
	Name   string // the name looked up
	Type   string // "SRV", "A", "AAAA" or "A/AAAA"
	Server string // the server whose answer decided, when one answered
	Err    error  // ErrNXDOMAIN, ErrSERVFAIL, ErrTimeout, ErrRefused, ErrServer, ErrNoRecords, or another cause
	Cached bool   // answered from the negative cache
	// RetryAfter is how long the failure stays cached: asking again sooner gets the same answer.
	// 0: unknown.
	RetryAfter time.Duration
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
// "NXDOMAIN", "SERVFAIL", "timeout", "REFUSED", "no records", or the error's text for anything
// else.
func DNSErrorCode(err error) string {
	for _, known := range [...]error{ErrNXDOMAIN, ErrSERVFAIL, ErrTimeout, ErrRefused, ErrServer, ErrNoRecords} {
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

// TemporaryDNSError reports whether a lookup error says nothing about the name: the server
// failed (SERVFAIL), refused, did not answer in time, or could not be asked. A chain that ends on
// such a failure answers 503 with a Retry-After, not 404: the partner may well exist. NXDOMAIN,
// no records, and errors a DNS implementation does not classify count as an answer (404).
func TemporaryDNSError(err error) bool {
	for _, temp := range [...]error{ErrSERVFAIL, ErrTimeout, ErrRefused, ErrServer, context.DeadlineExceeded} {
		if errors.Is(err, temp) {
			return true
		}
	}
	return false
}

// retryAfter is how long err's failure stays cached, 0 when unknown.
func retryAfter(err error) time.Duration {
	var de *DNSError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}

// dnsErrorCached reports whether err came from a negative cache.
func dnsErrorCached(err error) bool {
	var de *DNSError
	return errors.As(err, &de) && de.Cached
}

var errNoResolver = errors.New("no DNS resolver configured")
