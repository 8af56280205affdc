package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes of the admin API's error body.
const (
	CodeInvalidJSON        = "invalid_json"
	CodeInvalidField       = "invalid_field"
	CodeUnknownField       = "unknown_field"
	CodeBodyTooLarge       = "body_too_large"
	CodeUnauthorized       = "unauthorized"
	CodeNotFound           = "not_found"
	CodeConflict           = "conflict"
	CodePreconditionFailed = "precondition_failed"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeUnavailable        = "unavailable"
	// CodeCommitUnknown (504): the store could not say whether the write committed.
	CodeCommitUnknown = "commit_unknown"
	CodeInternal      = "internal"
)

// Sentinel errors the client maps statuses to, so callers test with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrConflict           = errors.New("conflict")
	ErrPreconditionFailed = errors.New("precondition failed")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrInvalid            = errors.New("invalid request")
)

// Error is the admin API's error: the body {"error": {...}} and, on the client side, the status it
// came with.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// ErrorBody is the JSON envelope of an Error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Is lets errors.Is(err, ErrNotFound) and friends work on an *Error from the wire.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
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
