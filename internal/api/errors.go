package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes of the admin API's error body.
const (
	CodeInvalidJSON        = "invalid_json"
	CodeInvalidField       = "invalid_field"
	CodeUnknownField       = "unknown_field"
	CodeInvalidHeader      = "invalid_header"
	CodeBodyTooLarge       = "body_too_large"
	CodeUnauthorized       = "unauthorized"
	CodeNotFound           = "not_found"
	CodeUnknownPath        = "unknown_path"
	CodeConflict           = "conflict"
	CodePreconditionFailed = "precondition_failed"
	CodeMethodNotAllowed   = "method_not_allowed"
	// CodeIdempotencyKeyReused: an Idempotency-Key came back with another request (422).
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	// CodeUnavailable: 503, and nothing was committed.
	CodeUnavailable = "unavailable"
	// CodeCommitUnknown: 504, the store could not say whether the write committed.
	CodeCommitUnknown = "commit_unknown"
	CodeInternal      = "internal"
)

// Sentinel errors for errors.Is. They match only an answer of the admin API itself (its JSON
// error body, with a code), never a status alone: a 404 from a load balancer or from another
// server behind a wrong endpoint says nothing about sipfed's objects.
var (
	// ErrNotFound: the object the client addressed does not exist. Only the API's not_found on an
	// object path the client built means that; see Error.Is.
	ErrNotFound           = errors.New("not found")
	ErrConflict           = errors.New("conflict")
	ErrPreconditionFailed = errors.New("precondition failed")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrInvalid            = errors.New("invalid request")
	// ErrIdempotencyKeyReused: the key was first used for another request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused")
	// ErrCommitUnknown: the proxy could not say whether the write committed; read the object to
	// find out.
	ErrCommitUnknown = errors.New("commit outcome unknown")
	// ErrNotSipfed: the answer did not come from a sipfed admin API: a wrong path prefix, another
	// HTTP server, a gateway's own error page.
	ErrNotSipfed = errors.New("not a sipfed admin API answer")
)

// Error is the admin API's error: the body {"error": {...}} and, on the client side, the request
// it answered.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`

	// Set by the client.
	Method string `json:"-"`
	// URL is the full URL the request went to, so that a misdirected call names where it went.
	URL string `json:"-"`
	// objectPath: the client addressed one object (a path it built from a collection and a key),
	// so a not_found means that object is gone.
	objectPath bool
}

// ErrorBody is the JSON envelope of an Error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Method == "" {
		return msg
	}
	status := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		status += " " + e.Code
	}
	return fmt.Sprintf("%s %s: %s: %s", e.Method, e.URL, status, msg)
}

// fromAPI reports whether the error is the admin API's own answer rather than a status alone.
func (e *Error) fromAPI() bool { return e.Code != "" }

// Is lets errors.Is(err, ErrNotFound) and friends work on an *Error from the wire.
func (e *Error) Is(target error) bool {
	if target == ErrNotSipfed {
		return !e.fromAPI() || e.Code == CodeUnknownPath
	}
	if !e.fromAPI() {
		return false
	}
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound && e.Code == CodeNotFound && e.objectPath
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrIdempotencyKeyReused:
		return e.Code == CodeIdempotencyKeyReused
	case ErrCommitUnknown:
		return e.Code == CodeCommitUnknown
	}
	return false
}

// FieldError is a rejected field: 400 with the field named.
func FieldError(field, format string, args ...any) *Error {
	return &Error{
		Status:  http.StatusBadRequest,
		Code:    CodeInvalidField,
		Message: fmt.Sprintf(format, args...),
		Field:   field,
	}
}

// notSipfedMessage explains an answer that is not the admin API's, for an error that names the URL.
func notSipfedMessage(status int, contentType string, body []byte) string {
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	what := fmt.Sprintf("the server answered %d %s", status, http.StatusText(status))
	if contentType != "" {
		what += " (" + contentType + ")"
	}
	if snippet != "" {
		what += ": " + snippet
	}
	return what + "; this is not an answer of a sipfed admin API: check that the endpoint is the proxy's " +
		"admin address (--admin-addr) with no path prefix, e.g. http://127.0.0.1:7080"
}
