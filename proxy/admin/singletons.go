package admin

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// The federation routing FQDN and the federation service switch are singletons: always present
// to a reader (a default stands in until a value is stored), set with PUT, reset with DELETE.

func (s *Server) routingFQDN(w http.ResponseWriter, r *http.Request) {
	node := s.cfg.Routing.NodeFQDN
	switch r.Method {
	case http.MethodGet:
		var v api.FederationRoutingFQDN
		if !s.getSingleton(w, r, api.KindFederationRoutingFQDN, &v) {
			return
		}
		if v.FQDN == "" {
			v.FQDN = node
		}
		v.NodeFQDN = node
		writeJSON(w, http.StatusOK, v)
	case http.MethodPut:
		var v api.FederationRoutingFQDN
		if err := decode(w, r, &v); err != nil {
			writeError(w, err)
			return
		}
		v.Normalize()
		if err := v.Validate(); err != nil {
			writeError(w, err)
			return
		}
		if !s.putSingleton(w, r, api.KindFederationRoutingFQDN, v) {
			return
		}
		v.NodeFQDN = node
		writeJSON(w, http.StatusOK, v)
	case http.MethodDelete:
		s.deleteSingleton(w, r, api.KindFederationRoutingFQDN)
	default:
		writeError(w, errMethod(http.MethodGet, http.MethodPut, http.MethodDelete))
	}
}

func (s *Server) federationService(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		// On in a fresh data directory, as the reference's service activation leaves it.
		v := api.FederationService{Enabled: true}
		if !s.getSingleton(w, r, api.KindFederationService, &v) {
			return
		}
		writeJSON(w, http.StatusOK, v)
	case http.MethodPut:
		var body struct {
			Enabled *bool `json:"enabled"`
		}
		if err := decode(w, r, &body); err != nil {
			writeError(w, err)
			return
		}
		if body.Enabled == nil {
			writeError(w, api.FieldError("enabled", "is required (true or false)"))
			return
		}
		v := api.FederationService{Enabled: *body.Enabled}
		if !s.putSingleton(w, r, api.KindFederationService, v) {
			return
		}
		writeJSON(w, http.StatusOK, v)
	default:
		writeError(w, errMethod(http.MethodGet, http.MethodPut))
	}
}

// getSingleton decodes the stored value into v, leaving v as it is when none is stored. It sets
// the revision header and, when a value is stored, the ETag.
func (s *Server) getSingleton(w http.ResponseWriter, r *http.Request, kind string, v any) bool {
	o, err := s.cfg.Store.Get(r.Context(), kind, state.SingletonKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		writeError(w, err)
		return false
	default:
		if err := json.Unmarshal(o.Value, v); err != nil {
			writeError(w, err)
			return false
		}
		w.Header().Set(api.HeaderETag, etag(o.ModRevision))
	}
	return s.currentRevision(w, r)
}

func (s *Server) putSingleton(w http.ResponseWriter, r *http.Request, kind string, v any) bool {
	cond, present, err := ifMatch(r)
	if err != nil {
		writeError(w, err)
		return false
	}
	value, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return false
	}
	o, err := s.cfg.Store.Put(r.Context(), kind, state.SingletonKey, value, cond, actor(r.Context()))
	if errors.Is(err, store.ErrNotFound) && present {
		err = store.ErrRevisionMismatch
	}
	if err != nil {
		writeError(w, err)
		return false
	}
	s.awaitLive(w, r, o.ModRevision)
	setRevision(w, o.ModRevision)
	w.Header().Set(api.HeaderETag, etag(o.ModRevision))
	return true
}

// deleteSingleton resets to the default. Resetting what is already the default succeeds: the
// state asked for holds.
func (s *Server) deleteSingleton(w http.ResponseWriter, r *http.Request, kind string) {
	cond, _, err := ifMatch(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rev, err := s.cfg.Store.Delete(r.Context(), kind, state.SingletonKey, cond, actor(r.Context()))
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !s.currentRevision(w, r) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case err != nil:
		writeError(w, err)
		return
	}
	s.awaitLive(w, r, rev)
	setRevision(w, rev)
	w.WriteHeader(http.StatusNoContent)
}
