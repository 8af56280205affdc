package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// Retry says how the client retries: only on connection errors and 502/503/504, never on a 4xx,
// and a request that may have reached the server (a non-idempotent POST) only when the
// connection was never made.
type Retry struct {
	Attempts   int
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// DefaultRetry is the client's retry policy unless set.
var DefaultRetry = Retry{Attempts: 4, MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}

// Client is a typed client of the admin API.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	retry     Retry
	timeout   time.Duration
	userAgent string
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient replaces the HTTP client, e.g. for a custom CA.
func WithHTTPClient(h *http.Client) ClientOption { return func(c *Client) { c.http = h } }

// WithTLSConfig sets the TLS configuration used for https endpoints.
func WithTLSConfig(t *tls.Config) ClientOption {
	return func(c *Client) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = t
		c.http = &http.Client{Transport: tr}
	}
}

// WithRetry sets the retry policy.
func WithRetry(r Retry) ClientOption { return func(c *Client) { c.retry = r } }

// WithRequestTimeout bounds each attempt; 0 leaves only the caller's context.
func WithRequestTimeout(d time.Duration) ClientOption { return func(c *Client) { c.timeout = d } }

// WithUserAgent names the caller in the proxy's logs.
func WithUserAgent(ua string) ClientOption { return func(c *Client) { c.userAgent = ua } }

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
		http:      &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		retry:     DefaultRetry,
		timeout:   30 * time.Second,
		userAgent: "sipfed-api-client",
	}
	for _, o := range opts {
		o(c)
	}
	if c.retry.Attempts < 1 {
		c.retry.Attempts = 1
	}
	return c, nil
}

// Endpoint returns the base URL the client talks to.
func (c *Client) Endpoint() string { return c.base.String() }

// Federated domains.

// Read-only fields (incoming_acl, a route's id) travel in responses only: the client clears them
// from what it sends, the key going in the path.

func (c *Client) CreateFederatedDomain(ctx context.Context, d FederatedDomain) (FederatedDomain, string, error) {
	var out FederatedDomain
	d.IncomingACL = ""
	etag, err := c.do(ctx, http.MethodPost, PathFederatedDomains, "", d, &out)
	return out, etag, err
}

func (c *Client) GetFederatedDomain(ctx context.Context, domain string) (FederatedDomain, string, error) {
	var out FederatedDomain
	etag, err := c.do(ctx, http.MethodGet, itemPath(PathFederatedDomains, domain), "", nil, &out)
	return out, etag, err
}

func (c *Client) UpdateFederatedDomain(ctx context.Context, d FederatedDomain, ifMatch string) (FederatedDomain, string, error) {
	var out FederatedDomain
	d.IncomingACL = ""
	etag, err := c.do(ctx, http.MethodPut, itemPath(PathFederatedDomains, d.Domain), ifMatch, d, &out)
	return out, etag, err
}

func (c *Client) DeleteFederatedDomain(ctx context.Context, domain, ifMatch string) error {
	_, err := c.do(ctx, http.MethodDelete, itemPath(PathFederatedDomains, domain), ifMatch, nil, nil)
	return err
}

func (c *Client) ListFederatedDomains(ctx context.Context) (FederatedDomainList, error) {
	var out FederatedDomainList
	_, err := c.do(ctx, http.MethodGet, PathFederatedDomains, "", nil, &out)
	return out, err
}

// Static routes.

func (c *Client) CreateStaticRoute(ctx context.Context, r StaticRoute) (StaticRoute, string, error) {
	var out StaticRoute
	r.ID = ""
	etag, err := c.do(ctx, http.MethodPost, PathStaticRoutes, "", r, &out)
	return out, etag, err
}

func (c *Client) GetStaticRoute(ctx context.Context, id string) (StaticRoute, string, error) {
	var out StaticRoute
	etag, err := c.do(ctx, http.MethodGet, itemPath(PathStaticRoutes, id), "", nil, &out)
	return out, etag, err
}

func (c *Client) UpdateStaticRoute(ctx context.Context, r StaticRoute, ifMatch string) (StaticRoute, string, error) {
	var out StaticRoute
	id := r.ID
	r.ID = ""
	etag, err := c.do(ctx, http.MethodPut, itemPath(PathStaticRoutes, id), ifMatch, r, &out)
	return out, etag, err
}

func (c *Client) DeleteStaticRoute(ctx context.Context, id, ifMatch string) error {
	_, err := c.do(ctx, http.MethodDelete, itemPath(PathStaticRoutes, id), ifMatch, nil, nil)
	return err
}

func (c *Client) ListStaticRoutes(ctx context.Context) (StaticRouteList, error) {
	var out StaticRouteList
	_, err := c.do(ctx, http.MethodGet, PathStaticRoutes, "", nil, &out)
	return out, err
}

// TLS peer subjects.

func (c *Client) CreateTLSPeerSubject(ctx context.Context, s TLSPeerSubject) (TLSPeerSubject, string, error) {
	var out TLSPeerSubject
	etag, err := c.do(ctx, http.MethodPost, PathTLSPeerSubjects, "", s, &out)
	return out, etag, err
}

func (c *Client) GetTLSPeerSubject(ctx context.Context, subject string) (TLSPeerSubject, string, error) {
	var out TLSPeerSubject
	etag, err := c.do(ctx, http.MethodGet, itemPath(PathTLSPeerSubjects, subject), "", nil, &out)
	return out, etag, err
}

func (c *Client) UpdateTLSPeerSubject(ctx context.Context, s TLSPeerSubject, ifMatch string) (TLSPeerSubject, string, error) {
	var out TLSPeerSubject
	etag, err := c.do(ctx, http.MethodPut, itemPath(PathTLSPeerSubjects, s.Subject), ifMatch, s, &out)
	return out, etag, err
}

func (c *Client) DeleteTLSPeerSubject(ctx context.Context, subject, ifMatch string) error {
	_, err := c.do(ctx, http.MethodDelete, itemPath(PathTLSPeerSubjects, subject), ifMatch, nil, nil)
	return err
}

func (c *Client) ListTLSPeerSubjects(ctx context.Context) (TLSPeerSubjectList, error) {
	var out TLSPeerSubjectList
	_, err := c.do(ctx, http.MethodGet, PathTLSPeerSubjects, "", nil, &out)
	return out, err
}

// Federation routing FQDN (a singleton).

func (c *Client) GetFederationRoutingFQDN(ctx context.Context) (FederationRoutingFQDN, string, error) {
	var out FederationRoutingFQDN
	etag, err := c.do(ctx, http.MethodGet, PathFederationRoutingFQDN, "", nil, &out)
	return out, etag, err
}

func (c *Client) SetFederationRoutingFQDN(ctx context.Context, fqdn, ifMatch string) (FederationRoutingFQDN, string, error) {
	var out FederationRoutingFQDN
	etag, err := c.do(ctx, http.MethodPut, PathFederationRoutingFQDN, ifMatch, FederationRoutingFQDN{FQDN: fqdn}, &out)
	return out, etag, err
}

// ResetFederationRoutingFQDN sets the routing FQDN back to the node's own FQDN.
func (c *Client) ResetFederationRoutingFQDN(ctx context.Context, ifMatch string) error {
	_, err := c.do(ctx, http.MethodDelete, PathFederationRoutingFQDN, ifMatch, nil, nil)
	return err
}

// Federation service switch.

func (c *Client) GetFederationService(ctx context.Context) (FederationService, string, error) {
	var out FederationService
	etag, err := c.do(ctx, http.MethodGet, PathFederationService, "", nil, &out)
	return out, etag, err
}

func (c *Client) SetFederationService(ctx context.Context, enabled bool, ifMatch string) (FederationService, string, error) {
	var out FederationService
	etag, err := c.do(ctx, http.MethodPut, PathFederationService, ifMatch, FederationService{Enabled: enabled}, &out)
	return out, etag, err
}

// Read-only views.

func (c *Client) ListIncomingACLs(ctx context.Context) (IncomingACLList, error) {
	var out IncomingACLList
	_, err := c.do(ctx, http.MethodGet, PathIncomingACLs, "", nil, &out)
	return out, err
}

func (c *Client) ListChanges(ctx context.Context, since uint64) (ChangeList, error) {
	var out ChangeList
	_, err := c.do(ctx, http.MethodGet, PathChanges+"?since="+strconv.FormatUint(since, 10), "", nil, &out)
	return out, err
}

// ExplainRoute asks the proxy how it would route a request to uri, without sending anything.
func (c *Client) ExplainRoute(ctx context.Context, uri string) (RouteExplanation, error) {
	var out RouteExplanation
	_, err := c.do(ctx, http.MethodGet, PathRoute+"?uri="+url.QueryEscape(uri), "", nil, &out)
	return out, err
}

func (c *Client) GetNode(ctx context.Context) (Node, error) {
	var out Node
	_, err := c.do(ctx, http.MethodGet, PathNode, "", nil, &out)
	return out, err
}

func itemPath(collection, key string) string {
	return collection + "/" + url.PathEscape(key)
}

// do sends one API call with retries and decodes the answer into out. It returns the ETag.
func (c *Client) do(ctx context.Context, method, path, ifMatch string, in, out any) (string, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return "", err
		}
	}
	idempotent := method != http.MethodPost
	var lastErr error
	for attempt := 0; attempt < c.retry.Attempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, c.backoff(attempt)); err != nil {
				return "", fmt.Errorf("%s %s: %w (last error: %v)", method, path, err, lastErr)
			}
		}
		etag, retry, err := c.once(ctx, method, path, ifMatch, body, out, idempotent)
		if err == nil {
			return etag, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			return "", err
		}
	}
	return "", lastErr
}

func (c *Client) once(ctx context.Context, method, path, ifMatch string, body []byte, out any, idempotent bool) (etag string, retry bool, err error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if ifMatch != "" {
		req.Header.Set(HeaderIfMatch, ifMatch)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", idempotent || isDialError(err), fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", idempotent, fmt.Errorf("%s %s: reading response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		apiErr := &Error{Status: resp.StatusCode}
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			apiErr.Code, apiErr.Message, apiErr.Field = eb.Error.Code, eb.Error.Message, eb.Error.Field
		} else {
			apiErr.Message = strings.TrimSpace(string(data))
			if apiErr.Message == "" {
				apiErr.Message = http.StatusText(resp.StatusCode)
			}
		}
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			// A 503 from the proxy is answered before anything is committed; a gateway's 502/504
			// may hide a committed POST, so only idempotent calls retry those.
			return "", idempotent || resp.StatusCode == http.StatusServiceUnavailable, fmt.Errorf("%s %s: %w", method, path, apiErr)
		}
		return "", false, fmt.Errorf("%s %s: %w", method, path, apiErr)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return "", false, fmt.Errorf("%s %s: decoding response: %w", method, path, err)
		}
	}
	return resp.Header.Get(HeaderETag), false, nil
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.MinBackoff << (attempt - 1)
	if d <= 0 || d > c.retry.MaxBackoff {
		d = c.retry.MaxBackoff
	}
	// Full jitter keeps a fleet of clients from retrying in step.
	return time.Duration(rand.Int64N(int64(d)/2+1)) + d/2
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
