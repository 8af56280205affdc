package admin

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// Read-only views: incoming ACLs, the audit trail, route explanations and the node's settings.

const (
	defaultChangesLimit = 1000
	maxChangesLimit     = 10000
)

func (s *Server) incomingACLs(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	objs, rev, err := s.cfg.Store.List(r.Context(), api.KindFederatedDomain)
	if err != nil {
		writeError(w, err)
		return
	}
	l := api.IncomingACLList{Revision: rev, Items: make([]api.IncomingACL, 0, len(objs))}
	for _, o := range objs {
		var d api.FederatedDomain
		if err := json.Unmarshal(o.Value, &d); err != nil {
			writeError(w, err)
			return
		}
		l.Items = append(l.Items, api.ACLFor(d))
	}
	setRevision(w, rev)
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) changes(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	q := r.URL.Query()
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, api.FieldError("since", "%q is not a revision (a non-negative integer)", v))
			return
		}
		since = n
	}
	limit := defaultChangesLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxChangesLimit {
			writeError(w, api.FieldError("limit", "%q is out of range: 1 to %d", v, maxChangesLimit))
			return
		}
		limit = n
	}
	rev, err := s.cfg.Store.Revision(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	evs, err := s.cfg.Store.Changes(r.Context(), since, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	l := api.ChangeList{Revision: rev, Items: make([]api.Change, len(evs))}
	for i, ev := range evs {
		l.Items[i] = api.Change{Revision: ev.Revision, Time: ev.Time, Kind: ev.Kind, Key: ev.Key, Action: ev.Action, Actor: ev.Actor,
			OriginalRevision: ev.OriginalRevision}
	}
	setRevision(w, rev)
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	raw := r.URL.Query().Get("uri")
	req, err := parseRequestURI(raw)
	if err != nil {
		writeError(w, err)
		return
	}
	snap := s.cfg.Live.Load()
	ex := snap.Explain(r.Context(), s.cfg.DNS, req)
	ex.URI = raw
	setRevision(w, snap.Revision())
	writeJSON(w, http.StatusOK, ex)
}

// parseRequestURI reads the user and domain of a SIP URI the way the relay reads a Request-URI.
func parseRequestURI(raw string) (routing.Request, error) {
	u, err := api.ParseSIPURI("uri", raw)
	if err != nil {
		return routing.Request{}, err
	}
	return routing.Request{User: u.User, Domain: u.Host}, nil
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	snap := s.cfg.Live.Load()
	local := append([]string{}, s.cfg.Routing.LocalDomains...)
	setRevision(w, snap.Revision())
	writeJSON(w, http.StatusOK, api.Node{
		NodeFQDN:                       s.cfg.Routing.NodeFQDN,
		FederationRoutingFQDN:          snap.RoutingFQDN(),
		LocalDomains:                   local,
		ExternalPort:                   s.cfg.ExternalPort,
		DefaultFederationRoutingDomain: s.cfg.Routing.DefaultFederationRoutingDomain,
		Revision:                       snap.Revision(),
	})
}
