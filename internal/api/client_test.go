package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

var fastRetry = WithRetry(Retry{Attempts: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})

// statusThenOK answers the given statuses in turn, then 200 with a domain.
func statusThenOK(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		if n < len(statuses) {
			w.WriteHeader(statuses[n])
			_ = json.NewEncoder(w).Encode(ErrorBody{Error: &Error{Code: "x", Message: "try later"}})
			return
		}
		w.Header().Set(HeaderETag, `"7"`)
		_ = json.NewEncoder(w).Encode(FederatedDomain{Domain: "a.com", Type: "lync"})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestClientRetries(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		post      bool
		wantCalls int32
		wantErr   error
	}{
		{"503 then ok", []int{503, 503}, false, 3, nil},
		{"502 and 504 retried on GET", []int{502, 504}, false, 3, nil},
		{"503 retried on POST: answered before commit", []int{503}, true, 2, nil},
		{"502 not retried on POST: it may have committed", []int{502}, true, 1, errors.New("502")},
		{"404 never retried", []int{404}, false, 1, ErrNotFound},
		{"409 never retried", []int{409}, true, 1, ErrConflict},
		{"412 never retried", []int{412}, false, 1, ErrPreconditionFailed},
		{"gives up after the attempts", []int{503, 503, 503, 503, 503}, false, 4, errors.New("503")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := statusThenOK(t, tc.statuses...)
			c, err := NewClient(srv.URL, "tok", fastRetry)
			if err != nil {
				t.Fatal(err)
			}
			var etag string
			if tc.post {
				_, etag, err = c.CreateFederatedDomain(context.Background(), FederatedDomain{Domain: "a.com"})
			} else {
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
			if !errors.As(err, &apiErr) || apiErr.Message != "try later" {
				t.Fatalf("error %v does not carry the API's message", err)
			}
			switch tc.wantErr {
			case ErrNotFound, ErrConflict, ErrPreconditionFailed:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("errors.Is(%v, %v) = false", err, tc.wantErr)
				}
			}
		})
	}
}

// A POST whose connection was refused never reached the server: retrying it is safe.
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
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(FederatedDomain{Domain: "a.com"})
		})}
		t.Cleanup(func() { _ = srv.Close() })
		_ = srv.Serve(l2)
	}()
	d, _, err := c.CreateFederatedDomain(context.Background(), FederatedDomain{Domain: "a.com"})
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
