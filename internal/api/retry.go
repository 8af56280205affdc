package api

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// Retry bounds how long and how often one API call tries again. Whether an answer may be retried
// at all is the retry table's decision (RetryTable), never the policy's.
type Retry struct {
	// Attempts caps the attempts of one call, the first included: 1 disables retries, 0 leaves
	// only Timeout.
	Attempts int
	// Timeout: no attempt starts later than this after the first one; 0 leaves only Attempts.
	Timeout    time.Duration
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// DefaultRetry rides out a restart of the proxy of 10 s or so (its admin port refuses connections
// meanwhile) and gives up on an endpoint that never answers within about 30 s: retries start for
// 20 s, and a connection attempt gives up after DialTimeout.
var DefaultRetry = Retry{Timeout: 20 * time.Second, MinBackoff: 250 * time.Millisecond, MaxBackoff: 2 * time.Second}

// DialTimeout bounds making one connection to the admin API. An admin API answers a connection
// in milliseconds, even across a WAN; a black-holed address never does, and the default of the
// operating system (minutes) would hold every call that long.
const DialTimeout = 5 * time.Second

// Pseudo-statuses of the retry table for attempts that got no HTTP answer.
const (
	// StatusNotSent: the connection was never made, so the request did not reach the proxy.
	StatusNotSent = -1
	// StatusNoAnswer: the request may have reached the proxy, but no answer came back
	// (connection reset or closed, timeout).
	StatusNoAnswer = 0
)

// Request kinds of the retry table. A POST can be replayed only when it carries an
// Idempotency-Key: the proxy then answers a replay with the first answer.
const (
	RetryGET         = http.MethodGet
	RetryPUT         = http.MethodPut
	RetryDELETE      = http.MethodDelete
	RetryPOST        = http.MethodPost
	RetryPOSTWithKey = http.MethodPost + " with Idempotency-Key"
)

// RetryRule is one row of the retry table: for these requests, an answer of this status (and
// error code, when set) is retried or not.
type RetryRule struct {
	Requests []string
	Status   int
	// Code, when set, is the admin API's error code; empty matches any answer of the status,
	// the API's or a gateway's.
	Code  string
	Retry bool
	Why   string
}

var (
	// replayable requests have the same effect when they arrive twice: a read; a PUT or DELETE,
	// whose replay after a commit meets 412 (If-Match) or 404, which the caller resolves by
	// reading the object; a POST with a key, whose replay gets the first answer.
	replayable = []string{RetryGET, RetryPUT, RetryDELETE, RetryPOSTWithKey}
	postNoKey  = []string{RetryPOST}
)

// retryTable decides what the client retries; the first matching row wins, and an answer no row
// matches (every 2xx and 4xx, 500) is final. proxy/admin tests every row against the real
// handler.
var retryTable = []RetryRule{
	{replayable, StatusNotSent, "", true,
		"the connection was never made: the request did not reach the proxy"},
	{replayable, http.StatusServiceUnavailable, CodeUnavailable, true,
		"the admin API answers 503 unavailable only when it committed nothing"},
	{replayable, http.StatusGatewayTimeout, CodeCommitUnknown, true,
		"the store could not say whether the write committed; a replay cannot apply it twice"},
	{replayable, StatusNoAnswer, "", true,
		"the request may have been applied, but a replay cannot apply it twice"},
	{replayable, http.StatusBadGateway, "", true,
		"a gateway's error may hide a committed write, which a replay cannot apply twice"},
	{replayable, http.StatusServiceUnavailable, "", true,
		"a gateway's 503 may hide a committed write, which a replay cannot apply twice"},
	{replayable, http.StatusGatewayTimeout, "", true,
		"a gateway's timeout may hide a committed write, which a replay cannot apply twice"},
	// One rule for creates, whatever the answer: without a key, a create is never repeated. Some of
	// these answers come before any commit, but a client that cannot tell them apart from the
	// ones that do not must not guess; the provider always sends a key.
	{postNoKey, StatusNotSent, "", false, "a create is retried only with its Idempotency-Key"},
	{postNoKey, http.StatusServiceUnavailable, CodeUnavailable, false, "a create is retried only with its Idempotency-Key"},
	{postNoKey, http.StatusGatewayTimeout, CodeCommitUnknown, false,
		"the create may have committed; without an Idempotency-Key a retry could create a second object"},
	{postNoKey, StatusNoAnswer, "", false, "the create may have committed before the connection failed"},
	{postNoKey, http.StatusBadGateway, "", false, "a gateway's error may hide a committed create"},
	{postNoKey, http.StatusServiceUnavailable, "", false, "a gateway's 503 may hide a committed create"},
	{postNoKey, http.StatusGatewayTimeout, "", false, "a gateway's timeout may hide a committed create"},
}

// RetryTable returns a copy of the retry table, for tests and documentation.
func RetryTable() []RetryRule {
	out := make([]RetryRule, len(retryTable))
	for i, r := range retryTable {
		r.Requests = slices.Clone(r.Requests)
		out[i] = r
	}
	return out
}

// RequestKind names a request as the retry table does.
func RequestKind(method string, idempotencyKey bool) string {
	if method == http.MethodPost && idempotencyKey {
		return RetryPOSTWithKey
	}
	return method
}

// ShouldRetry looks an attempt's outcome up in the retry table: the request kind (RequestKind),
// its HTTP status or pseudo-status, and the admin API's error code ("" when the answer was not
// the API's).
func ShouldRetry(kind string, status int, code string) bool {
	for _, r := range retryTable {
		if r.Status == status && (r.Code == "" || r.Code == code) && slices.Contains(r.Requests, kind) {
			return r.Retry
		}
	}
	return false
}

// backoff is the wait before attempt n (n >= 1 for the first retry): exponential, capped, with
// jitter so that a fleet of clients does not retry in step.
func (r Retry) backoff(n int) time.Duration {
	d := r.MinBackoff << (n - 1)
	if d <= 0 || d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)/2+1)) + d/2
}

// more reports whether another attempt may start after n attempts that began at start.
func (r Retry) more(n int, start time.Time, wait time.Duration) bool {
	if r.Attempts > 0 && n >= r.Attempts {
		return false
	}
	if r.Timeout > 0 && time.Since(start)+wait > r.Timeout {
		return false
	}
	return r.Attempts > 0 || r.Timeout > 0
}

// GaveUpError is the last failure of a call that was retried, or could have been: it says how
// many attempts were made over how long.
type GaveUpError struct {
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *GaveUpError) Error() string {
	if e.Attempts == 1 {
		return fmt.Sprintf("%v (gave up after 1 attempt)", e.Err)
	}
	return fmt.Sprintf("%v (gave up after %d attempts over %s)", e.Err, e.Attempts, e.Elapsed.Round(100*time.Millisecond))
}

func (e *GaveUpError) Unwrap() error { return e.Err }
