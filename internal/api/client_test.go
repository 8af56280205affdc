package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var fastRetry = WithRetry(Retry{Attempts: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})

// answer is what a fake server answers: the admin API's JSON error with a code, or a gateway's
// plain text when code is empty.
type answer struct {
	status int
	code   string
}

// answersThenOK answers the given answers in turn, then as the admin API does with a domain.
func answersThenOK(t *testing.T, answers ...answer) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		if n < len(answers) {
			a := answers[n]
			if a.code == "" {
				http.Error(w, "upstream trouble", a.status)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.status)
			_ = json.NewEncoder(w).Encode(ErrorBody{Error: &Error{Code: a.code, Message: "try later"}})
			return
		}
		apiOK(w, http.StatusOK, FederatedDomain{Domain: "a.com", Type: "lync"})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// apiOK answers as the admin API does: JSON, its revision and an ETag.
func apiOK(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderRevision, "7")
	w.Header().Set(HeaderETag, `"7"`)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestClientRetries(t *testing.T) {
	const (
		get     = "GET"
		post    = "POST"
		postKey = "POST with key"
	)
	tests := []struct {
		name      string
		answers   []answer
		request   string
		wantCalls int32
		wantErr   error
	}{
		{"503 unavailable then ok", []answer{{503, CodeUnavailable}, {503, CodeUnavailable}}, get, 3, nil},
		{"gateway 502 and 504 retried on GET", []answer{{502, ""}, {504, ""}}, get, 3, nil},
		{"503 unavailable not retried on POST without a key: one rule for creates", []answer{{503, CodeUnavailable}}, post, 1, errors.New("503")},
		{"503 unavailable retried on POST with a key", []answer{{503, CodeUnavailable}}, postKey, 2, nil},
		{"gateway 503 not retried on POST without a key: it may hide a commit", []answer{{503, ""}}, post, 1, ErrNotSipfed},
		{"gateway 503 retried on POST with a key", []answer{{503, ""}}, postKey, 2, nil},
		{"502 not retried on POST without a key", []answer{{502, ""}}, post, 1, ErrNotSipfed},
		{"commit_unknown not retried on POST without a key", []answer{{504, CodeCommitUnknown}}, post, 1, ErrCommitUnknown},
		{"commit_unknown retried on POST with a key", []answer{{504, CodeCommitUnknown}}, postKey, 2, nil},
		{"404 never retried", []answer{{404, CodeNotFound}}, get, 1, ErrNotFound},
		{"409 never retried", []answer{{409, CodeConflict}}, postKey, 1, ErrConflict},
		{"412 never retried", []answer{{412, CodePreconditionFailed}}, get, 1, ErrPreconditionFailed},
		{"422 never retried", []answer{{422, CodeIdempotencyKeyReused}}, postKey, 1, ErrIdempotencyKeyReused},
		{"500 never retried", []answer{{500, CodeInternal}}, get, 1, errors.New("500")},
		{"gives up after the attempts", []answer{{503, CodeUnavailable}, {503, CodeUnavailable}, {503, CodeUnavailable}, {503, CodeUnavailable}, {503, CodeUnavailable}}, get, 4, errors.New("503")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := answersThenOK(t, tc.answers...)
			c, err := NewClient(srv.URL, "tok", fastRetry)
			if err != nil {
				t.Fatal(err)
			}
			var etag string
			switch tc.request {
			case post:
				_, etag, err = c.CreateFederatedDomain(context.Background(), FederatedDomain{Domain: "a.com"})
			case postKey:
				_, etag, err = c.CreateFederatedDomain(context.Background(), FederatedDomain{Domain: "a.com"}, WithIdempotencyKey("k1"))
			default:
				_, etag, err = c.GetFederatedDomain(context.Background(), "a.com")
			}
			if calls.Load() != tc.wantCalls {
				t.Fatalf("%d calls, want %d", calls.Load(), tc.wantCalls)
			}
			if tc.wantErr == nil {
				if err != nil || etag != `"7"` {
					t.Fatalf("err %v etag %q", err, etag)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *Error", err)
			}
			// The message names the full URL, the status and, when retrying was the question, the attempts.
			if !strings.Contains(err.Error(), srv.URL+"/v1/federated-domains") || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", apiErr.Status)) {
				t.Errorf("error %q does not name the URL and the status", err)
			}
			if tc.wantCalls > 1 && !strings.Contains(err.Error(), fmt.Sprintf("gave up after %d attempts", tc.wantCalls)) {
				t.Errorf("error %q does not count the attempts", err)
			}
			switch tc.wantErr {
			case ErrNotFound, ErrConflict, ErrPreconditionFailed, ErrNotSipfed, ErrCommitUnknown, ErrIdempotencyKeyReused:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("errors.Is(%v, %v) = false", err, tc.wantErr)
				}
			}
		})
	}
}

// A create with a key sends the same key, in the draft's quoted form, on every attempt.
func TestClientReusesTheIdempotencyKey(t *testing.T) {
	var keys []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get(HeaderIdempotencyKey))
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			http.Error(w, "lost", http.StatusBadGateway)
			return
		}
		apiOK(w, http.StatusCreated, FederatedDomain{Domain: "a.com"})
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "tok", fastRetry)
	key := NewIdempotencyKey()
	if _, _, err := c.CreateFederatedDomain(context.Background(), FederatedDomain{Domain: "a.com"}, WithIdempotencyKey(key)); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != `"`+key+`"` || keys[1] != keys[0] {
		t.Fatalf("keys sent: %q, want %q twice", keys, `"`+key+`"`)
	}
	if NewIdempotencyKey() == key {
		t.Fatal("two keys are equal")
	}
}

// Only the API's own not_found, on an object path, means "gone": a wrong endpoint or another
// server must never make Terraform forget what it manages.
func TestClientNotFoundOnlyFromTheAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/federated-domains/gone.com", "/v1/federated-domains":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(ErrorBody{Error: &Error{Code: CodeNotFound, Message: "federated domain \"gone.com\" not found"}})
		case "/prefix/v1/federated-domains/a.com":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(ErrorBody{Error: &Error{Code: CodeUnknownPath, Message: "no such path"}})
		case "/html/v1/federated-domains/a.com":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "<html>Not Found</html>")
		case "/json404/v1/federated-domains/a.com":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"no route"}`)
		case "/ok200/v1/federated-domains/a.com":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{}`)
		case "/redirect/v1/federated-domains/a.com":
			http.Redirect(w, r, "https://elsewhere.example/v1/federated-domains/a.com", http.StatusMovedPermanently)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	client := func(prefix string) *Client {
		c, err := NewClient(srv.URL+prefix, "tok", WithRetry(Retry{Attempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, _, err := client("").GetFederatedDomain(ctx, "gone.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the API's not_found on an object: %v, want ErrNotFound", err)
	}
	if _, err := client("").ListFederatedDomains(ctx); errors.Is(err, ErrNotFound) || err == nil {
		t.Errorf("not_found on a collection path: %v, want an error that is not ErrNotFound", err)
	}
	for _, prefix := range []string{"/prefix", "/html", "/json404", "/ok200", "/redirect", "/other"} {
		_, _, err := client(prefix).GetFederatedDomain(ctx, "a.com")
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want an error that is not ErrNotFound", prefix, err)
			continue
		}
		if !errors.Is(err, ErrNotSipfed) {
			t.Errorf("%s: %v, want ErrNotSipfed", prefix, err)
		}
		if want := srv.URL + prefix + "/v1/federated-domains/a.com"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not name the URL %s", prefix, err, want)
		}
	}
}

// A create whose connection was refused is retried with its key.
func TestClientRetriesRefusedConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c, err := NewClient("http://"+addr, "tok", WithRetry(Retry{Attempts: 3, MinBackoff: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	// Start the server between the first and a later attempt.
	go func() {
		time.Sleep(20 * time.Millisecond)
		l2, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			apiOK(w, http.StatusCreated, FederatedDomain{Domain: "a.com"})
		})}
		t.Cleanup(func() { _ = srv.Close() })
		_ = srv.Serve(l2)
	}()
	d, _, err := c.CreateFederatedDomain(context.Background(), FederatedDomain{Domain: "a.com"}, WithIdempotencyKey("k"))
	if err != nil || d.Domain != "a.com" {
		t.Fatalf("create after refused connection: %+v %v", d, err)
	}
}

func TestClientHonoursContextDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "tok", fastRetry)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.GetFederatedDomain(ctx, "a.com")
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestNewClientRejectsBadEndpoints(t *testing.T) {
	for _, e := range []string{"ftp://x", "127.0.0.1:7080", "http://", "://"} {
		if _, err := NewClient(e, "t"); err == nil {
			t.Errorf("%q accepted", e)
		}
	}
}
