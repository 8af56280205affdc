package api

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Paths of the admin API.
const (
	PathFederatedDomains      = "/v1/federated-domains"
	PathStaticRoutes          = "/v1/static-routes"
	PathTLSPeerSubjects       = "/v1/tls-peer-subjects"
	PathFederationRoutingFQDN = "/v1/federation-routing-fqdn"
	PathFederationService     = "/v1/federation-service"
	PathIncomingACLs          = "/v1/incoming-acls"
	PathChanges               = "/v1/changes"
	PathRoute                 = "/v1/route"
	PathNode                  = "/v1/node"
	PathOpenAPI               = "/v1/openapi.json"
)

// DefaultEndpoint is where a proxy's admin API listens unless told otherwise.
const DefaultEndpoint = "http://127.0.0.1:7080"

// Client is a typed client of the admin API.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	retry     Retry
	timeout   time.Duration
	userAgent string
	observe   func(context.Context, Attempt)
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient replaces the HTTP client, e.g. for a custom CA. Its transport should bound
// connection attempts (DialTimeout) and it should not follow redirects, as the default does.
func WithHTTPClient(h *http.Client) ClientOption { return func(c *Client) { c.http = h } }

// WithTLSConfig sets the TLS configuration used for https endpoints.
func WithTLSConfig(t *tls.Config) ClientOption {
	return func(c *Client) {
		tr := NewTransport()
		tr.TLSClientConfig = t
		c.http = newHTTPClient(tr)
	}
}

// WithRetry sets the retry policy.
func WithRetry(r Retry) ClientOption { return func(c *Client) { c.retry = r } }

// WithRequestTimeout bounds each attempt; 0 leaves only the caller's context.
func WithRequestTimeout(d time.Duration) ClientOption { return func(c *Client) { c.timeout = d } }

// WithUserAgent names the caller in the proxy's logs.
func WithUserAgent(ua string) ClientOption { return func(c *Client) { c.userAgent = ua } }

// WithObserver has f told about every attempt of every call, e.g. to log it. f gets the call's
// context and must not block.
func WithObserver(f func(context.Context, Attempt)) ClientOption {
	return func(c *Client) { c.observe = f }
}

// Attempt is one attempt of one API call, as an observer sees it. It holds nothing secret: no
// header, no body.
type Attempt struct {
	Method string
	// Path is the API path, query included, without the endpoint.
	Path string
	// N counts the call's attempts from 1.
	N int
	// Status is the HTTP status, or StatusNotSent or StatusNoAnswer.
	Status   int
	Code     string
	Duration time.Duration
	// LivePending: a write answered 2xx but is not yet live in routing (Sipfed-Live: pending).
	LivePending bool
	Err         error
	// Retry: another attempt follows.
	Retry bool
}

// NewTransport returns the HTTP transport the client uses by default: connection attempts give
// up after DialTimeout, and idle connections are kept for the parallel calls of a Terraform run.
func NewTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	// Terraform calls the provider in parallel (-parallelism, 10 by default); with the default
	// two idle connections per host, most calls would pay for a new connection.
	tr.MaxIdleConnsPerHost = 64
	return tr
}

// newHTTPClient does not follow redirects: the admin API never sends one, so a redirect means the
// endpoint is not the admin API, and following it could carry the token elsewhere.
func newHTTPClient(tr http.RoundTripper) *http.Client {
	return &http.Client{Transport: tr, CheckRedirect: NoRedirects}
}

// NoRedirects is an http.Client CheckRedirect that returns a redirect as the answer.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewClient returns a client for the admin API at endpoint (http:// or https://).
func NewClient(endpoint, token string, opts ...ClientOption) (*Client, error) {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("endpoint %q: scheme must be http or https", endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: no host", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{
		base:      u,
		token:     token,
		http:      newHTTPClient(NewTransport()),
		retry:     DefaultRetry,
		timeout:   30 * time.Second,
		userAgent: "sipfed-api-client",
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Endpoint returns the base URL the client talks to.
func (c *Client) Endpoint() string { return c.base.String() }

// CallOption adjusts one write.
type CallOption func(*request)

// WithIdempotencyKey sends an Idempotency-Key with a create. The proxy keeps the key with the
// object it creates, so a retry of the call (the client's, or the caller's with the same key)
// gets the first answer instead of creating a second object; and only a create with a key is
// retried after an answer that may hide a commit. Use one key per intended object.
func WithIdempotencyKey(key string) CallOption { return func(r *request) { r.key = key } }

// ReportLive sets *pending when the proxy stored the write but it was not yet live in routing
// when the proxy answered (Sipfed-Live: pending).
func ReportLive(pending *bool) CallOption { return func(r *request) { r.livePending = pending } }

// NewIdempotencyKey returns a random key (a UUID, version 4).
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Federated domains.

// Read-only fields (incoming_acl, a route's id) travel in responses only: the client clears them
// from what it sends, the key going in the path.

func (c *Client) CreateFederatedDomain(ctx context.Context, d FederatedDomain, opts ...CallOption) (FederatedDomain, string, error) {
	var out FederatedDomain
	d.IncomingACL = ""
	etag, err := c.do(ctx, request{method: http.MethodPost, path: PathFederatedDomains, in: d, out: &out}, opts)
	return out, etag, err
}

func (c *Client) GetFederatedDomain(ctx context.Context, domain string) (FederatedDomain, string, error) {
	var out FederatedDomain
	etag, err := c.do(ctx, request{method: http.MethodGet, path: itemPath(PathFederatedDomains, domain), object: true, out: &out}, nil)
	return out, etag, err
}

func (c *Client) UpdateFederatedDomain(ctx context.Context, d FederatedDomain, ifMatch string, opts ...CallOption) (FederatedDomain, string, error) {
	var out FederatedDomain
	d.IncomingACL = ""
	etag, err := c.do(ctx, request{method: http.MethodPut, path: itemPath(PathFederatedDomains, d.Domain), object: true, ifMatch: ifMatch, in: d, out: &out}, opts)
	return out, etag, err
}

func (c *Client) DeleteFederatedDomain(ctx context.Context, domain, ifMatch string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: itemPath(PathFederatedDomains, domain), object: true, ifMatch: ifMatch}, opts)
	return err
}

func (c *Client) ListFederatedDomains(ctx context.Context) (FederatedDomainList, error) {
	var out FederatedDomainList
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathFederatedDomains, out: &out}, nil)
	return out, err
}

// Static routes.

func (c *Client) CreateStaticRoute(ctx context.Context, r StaticRoute, opts ...CallOption) (StaticRoute, string, error) {
	var out StaticRoute
	r.ID = ""
	etag, err := c.do(ctx, request{method: http.MethodPost, path: PathStaticRoutes, in: r, out: &out}, opts)
	return out, etag, err
}

func (c *Client) GetStaticRoute(ctx context.Context, id string) (StaticRoute, string, error) {
	var out StaticRoute
	etag, err := c.do(ctx, request{method: http.MethodGet, path: itemPath(PathStaticRoutes, id), object: true, out: &out}, nil)
	return out, etag, err
}

func (c *Client) UpdateStaticRoute(ctx context.Context, r StaticRoute, ifMatch string, opts ...CallOption) (StaticRoute, string, error) {
	var out StaticRoute
	id := r.ID
	r.ID = ""
	etag, err := c.do(ctx, request{method: http.MethodPut, path: itemPath(PathStaticRoutes, id), object: true, ifMatch: ifMatch, in: r, out: &out}, opts)
	return out, etag, err
}

func (c *Client) DeleteStaticRoute(ctx context.Context, id, ifMatch string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: itemPath(PathStaticRoutes, id), object: true, ifMatch: ifMatch}, opts)
	return err
}

func (c *Client) ListStaticRoutes(ctx context.Context) (StaticRouteList, error) {
	var out StaticRouteList
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathStaticRoutes, out: &out}, nil)
	return out, err
}

// TLS peer subjects.

func (c *Client) CreateTLSPeerSubject(ctx context.Context, s TLSPeerSubject, opts ...CallOption) (TLSPeerSubject, string, error) {
	var out TLSPeerSubject
	etag, err := c.do(ctx, request{method: http.MethodPost, path: PathTLSPeerSubjects, in: s, out: &out}, opts)
	return out, etag, err
}

func (c *Client) GetTLSPeerSubject(ctx context.Context, subject string) (TLSPeerSubject, string, error) {
	var out TLSPeerSubject
	etag, err := c.do(ctx, request{method: http.MethodGet, path: itemPath(PathTLSPeerSubjects, subject), object: true, out: &out}, nil)
	return out, etag, err
}

func (c *Client) UpdateTLSPeerSubject(ctx context.Context, s TLSPeerSubject, ifMatch string, opts ...CallOption) (TLSPeerSubject, string, error) {
	var out TLSPeerSubject
	etag, err := c.do(ctx, request{method: http.MethodPut, path: itemPath(PathTLSPeerSubjects, s.Subject), object: true, ifMatch: ifMatch, in: s, out: &out}, opts)
	return out, etag, err
}

func (c *Client) DeleteTLSPeerSubject(ctx context.Context, subject, ifMatch string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: itemPath(PathTLSPeerSubjects, subject), object: true, ifMatch: ifMatch}, opts)
	return err
}

func (c *Client) ListTLSPeerSubjects(ctx context.Context) (TLSPeerSubjectList, error) {
	var out TLSPeerSubjectList
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathTLSPeerSubjects, out: &out}, nil)
	return out, err
}

// Federation routing FQDN (a singleton).

func (c *Client) GetFederationRoutingFQDN(ctx context.Context) (FederationRoutingFQDN, string, error) {
	var out FederationRoutingFQDN
	etag, err := c.do(ctx, request{method: http.MethodGet, path: PathFederationRoutingFQDN, out: &out}, nil)
	return out, etag, err
}

func (c *Client) SetFederationRoutingFQDN(ctx context.Context, fqdn, ifMatch string, opts ...CallOption) (FederationRoutingFQDN, string, error) {
	var out FederationRoutingFQDN
	etag, err := c.do(ctx, request{method: http.MethodPut, path: PathFederationRoutingFQDN, ifMatch: ifMatch, in: FederationRoutingFQDN{FQDN: fqdn}, out: &out}, opts)
	return out, etag, err
}

// ResetFederationRoutingFQDN sets the routing FQDN back to the node's own FQDN.
func (c *Client) ResetFederationRoutingFQDN(ctx context.Context, ifMatch string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: PathFederationRoutingFQDN, ifMatch: ifMatch}, opts)
	return err
}

// Federation service switch.

func (c *Client) GetFederationService(ctx context.Context) (FederationService, string, error) {
	var out FederationService
	etag, err := c.do(ctx, request{method: http.MethodGet, path: PathFederationService, out: &out}, nil)
	return out, etag, err
}

func (c *Client) SetFederationService(ctx context.Context, enabled bool, ifMatch string, opts ...CallOption) (FederationService, string, error) {
	var out FederationService
	etag, err := c.do(ctx, request{method: http.MethodPut, path: PathFederationService, ifMatch: ifMatch, in: FederationService{Enabled: enabled}, out: &out}, opts)
	return out, etag, err
}

// Read-only views.

func (c *Client) ListIncomingACLs(ctx context.Context) (IncomingACLList, error) {
	var out IncomingACLList
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathIncomingACLs, out: &out}, nil)
	return out, err
}

func (c *Client) ListChanges(ctx context.Context, since uint64) (ChangeList, error) {
	var out ChangeList
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathChanges + "?since=" + strconv.FormatUint(since, 10), out: &out}, nil)
	return out, err
}

// ExplainRoute asks the proxy how it would route a request to uri, without sending anything.
func (c *Client) ExplainRoute(ctx context.Context, uri string) (RouteExplanation, error) {
	var out RouteExplanation
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathRoute + "?uri=" + url.QueryEscape(uri), out: &out}, nil)
	return out, err
}

func (c *Client) GetNode(ctx context.Context) (Node, error) {
	var out Node
	_, err := c.do(ctx, request{method: http.MethodGet, path: PathNode, out: &out}, nil)
	return out, err
}

func itemPath(collection, key string) string {
	return collection + "/" + url.PathEscape(key)
}

// request is one API call.
type request struct {
	method string
	path   string
	// object: path names one object (a collection and a key), so the API's not_found means the
	// object does not exist.
	object  bool
	ifMatch string
	key     string
	in, out any

	livePending *bool
}

// do sends one API call, retrying as the retry table and the policy allow, and decodes the answer
// into r.out. It returns the ETag.
func (c *Client) do(ctx context.Context, r request, opts []CallOption) (string, error) {
	for _, o := range opts {
		o(&r)
	}
	var body []byte
	if r.in != nil {
		var err error
		if body, err = json.Marshal(r.in); err != nil {
			return "", err
		}
	}
	kind := RequestKind(r.method, r.key != "")
	start := time.Now()
	for n := 1; ; n++ {
		res := c.once(ctx, r, body)
		retry := res.err != nil && ShouldRetry(kind, res.status, res.code) && ctx.Err() == nil
		var wait time.Duration
		if retry {
			wait = c.retry.backoff(n)
			retry = c.retry.more(n, start, wait)
		}
		if c.observe != nil {
			c.observe(ctx, Attempt{Method: r.method, Path: r.path, N: n, Status: res.status, Code: res.code,
				Duration: res.took, LivePending: res.livePending, Err: res.err, Retry: retry})
		}
		if res.err == nil {
			if r.livePending != nil {
				*r.livePending = res.livePending
			}
			return res.etag, nil
		}
		if !retry {
			// Say how often the call was tried whenever trying again was the question.
			if n > 1 || ShouldRetry(kind, res.status, res.code) {
				return "", &GaveUpError{Attempts: n, Elapsed: time.Since(start), Err: res.err}
			}
			return "", res.err
		}
		if err := sleep(ctx, wait); err != nil {
			return "", &GaveUpError{Attempts: n, Elapsed: time.Since(start), Err: res.err}
		}
	}
}

// statusUnsendable: the request could not even be built; no row of the retry table matches it.
const statusUnsendable = -2

// outcome is what one attempt gave.
type outcome struct {
	etag        string
	status      int
	code        string
	livePending bool
	took        time.Duration
	err         error
}

func (c *Client) once(ctx context.Context, r request, body []byte) (res outcome) {
	start := time.Now()
	defer func() { res.took = time.Since(start) }()
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	full := c.base.String() + r.path
	req, err := http.NewRequestWithContext(ctx, r.method, full, bytes.NewReader(body))
	if err != nil {
		return outcome{status: statusUnsendable, err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.ifMatch != "" {
		req.Header.Set(HeaderIfMatch, r.ifMatch)
	}
	if r.key != "" {
		// A structured-field string, as the IETF draft defines the header.
		req.Header.Set(HeaderIdempotencyKey, strconv.Quote(r.key))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		status := StatusNoAnswer
		if isDialError(err) {
			status = StatusNotSent
		}
		return outcome{status: status, err: fmt.Errorf("%s %s: %w", r.method, full, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return outcome{status: StatusNoAnswer, err: fmt.Errorf("%s %s: reading the answer: %w", r.method, full, err)}
	}
	res = outcome{status: resp.StatusCode}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		apiErr := decodeError(resp, data)
		apiErr.Method, apiErr.URL, apiErr.objectPath = r.method, full, r.object
		res.code, res.err = apiErr.Code, apiErr
		return res
	}
	// Every answer of the admin API carries its revision: a 2xx without one came from something
	// else (a web server or another API behind a wrong endpoint), and its body is not our object.
	if resp.Header.Get(HeaderRevision) == "" {
		res.err = &Error{Status: resp.StatusCode, Method: r.method, URL: full,
			Message: notSipfedMessage(resp.StatusCode, resp.Header.Get("Content-Type"), data)}
		return res
	}
	if r.out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, r.out); err != nil {
			res.err = fmt.Errorf("%s %s: decoding the answer: %w", r.method, full, err)
			return res
		}
	}
	res.etag = resp.Header.Get(HeaderETag)
	res.livePending = resp.Header.Get(HeaderLive) == LivePending
	return res
}

// decodeError reads an error answer. Only the admin API's own JSON envelope, with a code, keeps
// its code; anything else is reported as not the API's, with what the server did answer.
func decodeError(resp *http.Response, data []byte) *Error {
	var eb ErrorBody
	if isJSON(resp.Header.Get("Content-Type")) && json.Unmarshal(data, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		e := eb.Error
		e.Status = resp.StatusCode
		return e
	}
	msg := notSipfedMessage(resp.StatusCode, resp.Header.Get("Content-Type"), data)
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg = "redirected to " + loc + "; " + msg
	}
	return &Error{Status: resp.StatusCode, Message: msg}
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// unwrapURLError drops net/http's *url.Error wrapper, whose text repeats the method and URL the
// client already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isDialError reports a failure to connect: the request never reached the server.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
