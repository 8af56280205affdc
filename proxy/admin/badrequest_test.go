package admin_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Every bad request is refused with the status, code and field it deserves, and changes nothing.
func TestBadRequestsChangeNothing(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	if _, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "seed.com"}); err != nil {
		t.Fatal(err)
	}
	seedRoute := api.NewStaticRoute()
	seedRoute.DestinationPattern, seedRoute.NextHop = ".com.seed.*", "192.0.2.1"
	route, _, err := a.client.CreateStaticRoute(ctx, seedRoute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.client.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "edge.seed.com"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "bound.com", PeerSubjects: []string{"edge.seed.com"}}); err != nil {
		t.Fatal(err)
	}
	routePath := api.PathStaticRoutes + "/" + route.ID
	domainPath := api.PathFederatedDomains + "/seed.com"

	const (
		D  = api.PathFederatedDomains
		R  = api.PathStaticRoutes
		S  = api.PathTLSPeerSubjects
		F  = api.PathFederationRoutingFQDN
		FS = api.PathFederationService
	)
	// route builds a static route body with one field replaced (or removed, with value "").
	routeWith := func(field, value string) string {
		fields := map[string]string{
			"destination_pattern": `".com.x.*"`, "next_hop": `"192.0.2.7"`,
		}
		if value == "" {
			delete(fields, field)
		} else {
			fields[field] = value
		}
		parts := []string{}
		for k, v := range fields {
			parts = append(parts, `"`+k+`":`+v)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}

	cases := []struct {
		name    string
		method  string
		path    string
		token   string
		body    string
		header  map[string]string
		status  int
		code    string
		field   string
		message string // a fragment the message must contain
	}{
		// Authentication.
		{name: "no token", method: "POST", path: D, body: `{"domain":"x.com"}`, status: 401, code: api.CodeUnauthorized},
		{name: "wrong token", method: "POST", path: D, token: "not-the-token-0123456789", body: `{"domain":"x.com"}`, status: 401, code: api.CodeUnauthorized},
		{name: "token prefix", method: "DELETE", path: domainPath, token: opsToken[:len(opsToken)-1], status: 401, code: api.CodeUnauthorized},
		{name: "basic auth instead of bearer", method: "DELETE", path: domainPath, header: map[string]string{"Authorization": "Basic b3BzOnRva2Vu"}, status: 401, code: api.CodeUnauthorized},
		{name: "no token on a read", method: "GET", path: D, status: 401, code: api.CodeUnauthorized},

		// Malformed bodies.
		{name: "empty body", method: "POST", path: D, body: ``, status: 400, code: api.CodeInvalidJSON},
		{name: "truncated JSON", method: "POST", path: D, body: `{"domain":"x.com"`, status: 400, code: api.CodeInvalidJSON},
		{name: "not JSON", method: "POST", path: D, body: `domain=x.com`, status: 400, code: api.CodeInvalidJSON},
		{name: "JSON array", method: "POST", path: D, body: `[{"domain":"x.com"}]`, status: 400, code: api.CodeInvalidJSON},
		{name: "trailing data", method: "POST", path: D, body: `{"domain":"x.com"} {"domain":"y.com"}`, status: 400, code: api.CodeInvalidJSON},
		{name: "oversize body", method: "POST", path: D, body: `{"domain":"x.com","description":"` + strings.Repeat("a", int(api.MaxBodyBytes)) + `"}`, status: 400, code: api.CodeBodyTooLarge},

		// Wrong types and unknown fields.
		{name: "domain is a number", method: "POST", path: D, body: `{"domain":42}`, status: 400, code: api.CodeInvalidField, field: "domain"},
		{name: "direct_federation is a string", method: "POST", path: D, body: `{"domain":"x.com","direct_federation":"yes"}`, status: 400, code: api.CodeInvalidField, field: "direct_federation"},
		{name: "port is a string", method: "POST", path: R, body: routeWith("next_hop_port", `"5061"`), status: 400, code: api.CodeInvalidField, field: "next_hop_port"},
		{name: "priority is a float", method: "POST", path: R, body: routeWith("priority", `1.5`), status: 400, code: api.CodeInvalidField, field: "priority"},
		{name: "in_service is a number", method: "POST", path: R, body: routeWith("in_service", `1`), status: 400, code: api.CodeInvalidField, field: "in_service"},
		{name: "unknown field", method: "POST", path: D, body: `{"domain":"x.com","colour":"blue"}`, status: 400, code: api.CodeUnknownField, field: "colour"},
		{name: "misspelt field", method: "POST", path: R, body: routeWith("next_hop_prot", `5061`), status: 400, code: api.CodeUnknownField, field: "next_hop_prot"},
		{name: "enabled missing", method: "PUT", path: FS, body: `{}`, status: 400, code: api.CodeInvalidField, field: "enabled"},

		// Domains.
		{name: "empty domain", method: "POST", path: D, body: `{"domain":""}`, status: 400, code: api.CodeInvalidField, field: "domain", message: "empty"},
		{name: "wildcard domain", method: "POST", path: D, body: `{"domain":"*.x.com"}`, status: 400, code: api.CodeInvalidField, field: "domain", message: "wildcard"},
		{name: "domain with underscore", method: "POST", path: D, body: `{"domain":"a_b.com"}`, status: 400, code: api.CodeInvalidField, field: "domain"},
		{name: "domain label too long", method: "POST", path: D, body: `{"domain":"` + strings.Repeat("a", 64) + `.com"}`, status: 400, code: api.CodeInvalidField, field: "domain", message: "63"},
		{name: "domain too long", method: "POST", path: D, body: `{"domain":"` + strings.Repeat("abcdefghi.", 26) + `com"}`, status: 400, code: api.CodeInvalidField, field: "domain", message: "253"},
		{name: "domain with double dot", method: "POST", path: D, body: `{"domain":"a..com"}`, status: 400, code: api.CodeInvalidField, field: "domain"},
		{name: "domain with leading hyphen", method: "POST", path: D, body: `{"domain":"-a.com"}`, status: 400, code: api.CodeInvalidField, field: "domain", message: "hyphen"},
		{name: "IP address as domain", method: "POST", path: D, body: `{"domain":"192.0.2.1"}`, status: 400, code: api.CodeInvalidField, field: "domain"},
		{name: "unknown domain type", method: "POST", path: D, body: `{"domain":"x.com","type":"xmpp"}`, status: 400, code: api.CodeInvalidField, field: "type"},
		{name: "description too long", method: "POST", path: D, body: `{"domain":"x.com","description":"` + strings.Repeat("é", 256) + `"}`, status: 400, code: api.CodeInvalidField, field: "description", message: "255"},
		{name: "description with a newline", method: "POST", path: D, body: `{"domain":"x.com","description":"a\nb"}`, status: 400, code: api.CodeInvalidField, field: "description"},
		{name: "a local domain as a federated domain", method: "POST", path: D, body: `{"domain":"Example.com"}`, status: 400, code: api.CodeInvalidField, field: "domain", message: "local domain"},
		{name: "localhost as a federated domain", method: "POST", path: D, body: `{"domain":"localhost"}`, status: 400, code: api.CodeInvalidField, field: "domain", message: "local host"},
		{name: "a name under localhost", method: "POST", path: D, body: `{"domain":"a.localhost"}`, status: 400, code: api.CodeInvalidField, field: "domain"},
		{name: "IPv6 literal as domain", method: "POST", path: D, body: `{"domain":"[::1]"}`, status: 400, code: api.CodeInvalidField, field: "domain"},
		{name: "peer_subjects naming no TLS peer subject", method: "POST", path: D, body: `{"domain":"x.com","peer_subjects":["edge.seed.com","edge.nobody.com"]}`, status: 400, code: api.CodeInvalidField, field: "peer_subjects", message: "edge.nobody.com"},
		{name: "peer_subjects with a wildcard", method: "POST", path: D, body: `{"domain":"x.com","peer_subjects":["*.seed.com"]}`, status: 400, code: api.CodeInvalidField, field: "peer_subjects", message: "wildcard"},
		{name: "peer_subjects not a list", method: "POST", path: D, body: `{"domain":"x.com","peer_subjects":"edge.seed.com"}`, status: 400, code: api.CodeInvalidField, field: "peer_subjects"},
		{name: "update naming no TLS peer subject", method: "PUT", path: domainPath, body: `{"peer_subjects":["edge.nobody.com"]}`, status: 400, code: api.CodeInvalidField, field: "peer_subjects"},
		{name: "delete of a peer subject a domain names", method: "DELETE", path: S + "/edge.seed.com", status: 409, code: api.CodeConflict, field: "subject", message: "bound.com"},
		{name: "duplicate domain", method: "POST", path: D, body: `{"domain":"SEED.com"}`, status: 409, code: api.CodeConflict, field: "domain"},
		{name: "domain key cannot change", method: "PUT", path: domainPath, body: `{"domain":"other.com"}`, status: 400, code: api.CodeInvalidField, field: "domain"},
		{name: "update of a missing domain", method: "PUT", path: D + "/missing.com", body: `{"description":"x"}`, status: 404, code: api.CodeNotFound},
		{name: "delete of a missing domain", method: "DELETE", path: D + "/missing.com", status: 404, code: api.CodeNotFound},

		// Static routes.
		{name: "pattern not reversed", method: "POST", path: R, body: routeWith("destination_pattern", `"domaina.com"`), status: 400, code: api.CodeInvalidField, field: "destination_pattern", message: "reversed"},
		{name: "pattern with inner wildcard", method: "POST", path: R, body: routeWith("destination_pattern", `".com.*.a"`), status: 400, code: api.CodeInvalidField, field: "destination_pattern", message: "wildcard"},
		{name: "pattern missing", method: "POST", path: R, body: routeWith("destination_pattern", ""), status: 400, code: api.CodeInvalidField, field: "destination_pattern"},
		{name: "user pattern with @", method: "POST", path: R, body: `{"route_type":"user","destination_pattern":"bob@x.com","next_hop":"192.0.2.7"}`, status: 400, code: api.CodeInvalidField, field: "destination_pattern"},
		{name: "next hop missing", method: "POST", path: R, body: routeWith("next_hop", ""), status: 400, code: api.CodeInvalidField, field: "next_hop"},
		{name: "next hop with a space", method: "POST", path: R, body: routeWith("next_hop", `"edge a.com"`), status: 400, code: api.CodeInvalidField, field: "next_hop"},
		{name: "next hop multicast", method: "POST", path: R, body: routeWith("next_hop", `"224.0.0.1"`), status: 400, code: api.CodeInvalidField, field: "next_hop"},
		{name: "port 0", method: "POST", path: R, body: routeWith("next_hop_port", `0`), status: 400, code: api.CodeInvalidField, field: "next_hop_port", message: "1 to 65535"},
		{name: "port 65536", method: "POST", path: R, body: routeWith("next_hop_port", `65536`), status: 400, code: api.CodeInvalidField, field: "next_hop_port"},
		{name: "negative port", method: "POST", path: R, body: routeWith("next_hop_port", `-1`), status: 400, code: api.CodeInvalidField, field: "next_hop_port"},
		{name: "unknown protocol", method: "POST", path: R, body: routeWith("protocol", `"sctp"`), status: 400, code: api.CodeInvalidField, field: "protocol"},
		{name: "unknown route type", method: "POST", path: R, body: routeWith("route_type", `"group"`), status: 400, code: api.CodeInvalidField, field: "route_type"},
		{name: "priority 0", method: "POST", path: R, body: routeWith("priority", `0`), status: 400, code: api.CodeInvalidField, field: "priority"},
		{name: "weight too big", method: "POST", path: R, body: routeWith("weight", `70000`), status: 400, code: api.CodeInvalidField, field: "weight"},
		{name: "client-chosen id", method: "POST", path: R, body: routeWith("id", `"mine"`), status: 400, code: api.CodeInvalidField, field: "id"},
		{name: "route id cannot change", method: "PUT", path: routePath, body: routeWith("id", `"other"`), status: 400, code: api.CodeInvalidField, field: "id"},
		{name: "update of a missing route", method: "PUT", path: R + "/000000000000", body: routeWith("priority", `2`), status: 404, code: api.CodeNotFound},

		// TLS peer subjects, routing FQDN.
		{name: "subject with a wildcard", method: "POST", path: S, body: `{"subject":"*.seed.com"}`, status: 400, code: api.CodeInvalidField, field: "subject"},
		{name: "duplicate subject", method: "POST", path: S, body: `{"subject":"Edge.Seed.com"}`, status: 409, code: api.CodeConflict, field: "subject"},
		{name: "routing FQDN empty", method: "PUT", path: F, body: `{"fqdn":""}`, status: 400, code: api.CodeInvalidField, field: "fqdn"},
		{name: "routing FQDN with a port", method: "PUT", path: F, body: `{"fqdn":"imp.example.com:5061"}`, status: 400, code: api.CodeInvalidField, field: "fqdn"},

		// Preconditions.
		{name: "stale If-Match on update", method: "PUT", path: domainPath, body: `{"description":"x"}`, header: map[string]string{"If-Match": `"999"`}, status: 412, code: api.CodePreconditionFailed},
		{name: "stale If-Match on delete", method: "DELETE", path: routePath, header: map[string]string{"If-Match": `"1"`}, status: 412, code: api.CodePreconditionFailed},
		{name: "malformed If-Match", method: "DELETE", path: routePath, header: map[string]string{"If-Match": `yesterday`}, status: 412, code: api.CodePreconditionFailed},
		{name: "If-Match on an unset singleton", method: "PUT", path: F, body: `{"fqdn":"imp.example.com"}`, header: map[string]string{"If-Match": `"3"`}, status: 412, code: api.CodePreconditionFailed},

		// Methods and paths.
		{name: "PATCH", method: "PATCH", path: domainPath, body: `{"description":"x"}`, status: 405, code: api.CodeMethodNotAllowed},
		{name: "DELETE a collection", method: "DELETE", path: D, status: 405, code: api.CodeMethodNotAllowed},
		{name: "unknown path", method: "GET", path: "/v1/users", status: 404, code: api.CodeUnknownPath},
		{name: "unknown path below an object", method: "GET", path: domainPath + "/acl", status: 404, code: api.CodeUnknownPath},
		{name: "path outside /v1", method: "GET", path: "/admin" + domainPath, status: 404, code: api.CodeUnknownPath},
		{name: "empty idempotency key", method: "POST", path: D, body: `{"domain":"b.example"}`, header: map[string]string{"Idempotency-Key": `""`}, status: 400, code: api.CodeInvalidHeader},
		{name: "unterminated idempotency key", method: "POST", path: D, body: `{"domain":"b.example"}`, header: map[string]string{"Idempotency-Key": `"abc`}, status: 400, code: api.CodeInvalidHeader},
		{name: "non-ASCII idempotency key", method: "POST", path: D, body: `{"domain":"b.example"}`, header: map[string]string{"Idempotency-Key": "schlüssel"}, status: 400, code: api.CodeInvalidHeader},
		{name: "idempotency key too long", method: "POST", path: D, body: `{"domain":"b.example"}`, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, status: 400, code: api.CodeInvalidHeader},
		{name: "changes since is not a number", method: "GET", path: api.PathChanges + "?since=yesterday", status: 400, code: api.CodeInvalidField, field: "since"},
		{name: "route without uri", method: "GET", path: api.PathRoute, status: 400, code: api.CodeInvalidField, field: "uri"},
		{name: "route with an http uri", method: "GET", path: api.PathRoute + "?uri=http://x.com", status: 400, code: api.CodeInvalidField, field: "uri"},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeRev := a.dump()
			token := tc.token
			if token == "" && tc.status != http.StatusUnauthorized {
				token = opsToken
			}
			r := a.do(tc.method, tc.path, token, []byte(tc.body), tc.header)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			e := r.apiError(t)
			if e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("error %+v, want code %q field %q", e, tc.code, tc.field)
			}
			if e.Message == "" || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("message %q does not say %q", e.Message, tc.message)
			}
			if tc.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			after, afterRev := a.dump()
			if afterRev != beforeRev || !reflect.DeepEqual(before, after) {
				t.Fatalf("the store changed: revision %d -> %d", beforeRev, afterRev)
			}
		})
	}
}
