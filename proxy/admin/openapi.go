package admin

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the API's OpenAPI 3 document; docs/openapi.json is a copy, checked by a test.
//
//go:embed openapi.json
var OpenAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPI)
}
