package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// decode reads a JSON body into v, which holds the API's defaults for omitted fields. It refuses
// unknown fields, trailing data and bodies over api.MaxBodyBytes, naming the field when it can.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBodyTooLarge,
				Message: fmt.Sprintf("request body is larger than %d bytes", api.MaxBodyBytes)}
		}
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: "reading request body: " + err.Error()}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: "request body is empty; a JSON object is required"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: "request body has data after the JSON object"}
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON,
			Message: fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON,
				Message: fmt.Sprintf("request body must be a JSON object, not %s", typeErr.Value)}
		}
		return api.FieldError(typeErr.Field, "must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: "malformed JSON: unexpected end of body"}
	}
	// encoding/json words unknown fields as: json: unknown field "name"
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ := strconv.Unquote(f)
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeUnknownField,
			Message: fmt.Sprintf("unknown field %s", f), Field: name}
	}
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "uint64", "uint16":
		return "an integer"
	}
	return "a " + goKind
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError answers with the API error body for err.
func writeError(w http.ResponseWriter, err error) {
	var apiErr *api.Error
	if !errors.As(err, &apiErr) {
		apiErr = storeError(err)
	}
	if apiErr.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sipfed"`)
	}
	writeJSON(w, apiErr.Status, api.ErrorBody{Error: apiErr})
}

func storeError(err error) *api.Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "not found"}
	case errors.Is(err, store.ErrExists):
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: "already exists"}
	case errors.Is(err, store.ErrRevisionMismatch):
		return &api.Error{Status: http.StatusPreconditionFailed, Code: api.CodePreconditionFailed,
			Message: "If-Match does not match the current ETag: the object changed since it was read; read it again"}
	case errors.Is(err, store.ErrCommitUnknown):
		return &api.Error{Status: http.StatusGatewayTimeout, Code: api.CodeCommitUnknown,
			Message: err.Error() + "; read the object again before retrying"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable):
		return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Message: err.Error()}
	}
	return &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()}
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// ifMatch turns an If-Match header into a store precondition. "*" asks only that the object
// exists. A value that is not one of our ETags can never match.
func ifMatch(r *http.Request) (cond store.Cond, present bool, err error) {
	h := strings.TrimSpace(r.Header.Get(api.HeaderIfMatch))
	if h == "" {
		return store.Cond{}, false, nil
	}
	if h == "*" {
		return store.Cond{MustExist: true}, true, nil
	}
	v := strings.TrimPrefix(h, "W/")
	rev, perr := strconv.ParseUint(strings.Trim(v, `"`), 10, 64)
	if perr != nil || rev == 0 || !strings.HasPrefix(v, `"`) || !strings.HasSuffix(v, `"`) {
		return store.Cond{}, true, &api.Error{Status: http.StatusPreconditionFailed, Code: api.CodePreconditionFailed,
			Message: fmt.Sprintf("If-Match %q is not an ETag of this API (a quoted revision such as \"12\")", h)}
	}
	return store.Cond{ModRevision: rev}, true, nil
}

func errMethod(allowed ...string) *api.Error {
	return &api.Error{Status: http.StatusMethodNotAllowed, Code: api.CodeMethodNotAllowed,
		Message: "method not allowed; allowed: " + strings.Join(allowed, ", ")}
}
