package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

type domainObject struct{ *api.FederatedDomain }

func (d domainObject) key() string     { return d.Domain }
func (d domainObject) setKey(k string) { d.Domain = k }
func (d domainObject) validate() error { return d.Validate() }
func (d domainObject) presented() any {
	out := *d.FederatedDomain
	out.IncomingACL = api.ACLFor(out).Pattern
	return out
}
func (d domainObject) stored() ([]byte, error) {
	v := *d.FederatedDomain
	v.IncomingACL = ""
	return json.Marshal(v)
}

func domains() collection {
	wrap := func(d *api.FederatedDomain) object { return domainObject{d} }
	return collection{
		kind: api.KindFederatedDomain, noun: "federated domain", path: api.PathFederatedDomains, keyField: "domain",
		decode: decodeInto(api.NewFederatedDomain, wrap, (*api.FederatedDomain).Normalize),
		load:   loadInto(wrap),
		check:  checkDomain,
		list: func(objs []object, rev uint64) any {
			l := api.FederatedDomainList{Revision: rev, Items: make([]api.FederatedDomain, len(objs))}
			for i, o := range objs {
				l.Items[i] = o.presented().(api.FederatedDomain)
			}
			return l
		},
	}
}

type routeObject struct{ *api.StaticRoute }

func (r routeObject) key() string             { return r.ID }
func (r routeObject) setKey(k string)         { r.ID = k }
func (r routeObject) validate() error         { return r.Validate() }
func (r routeObject) presented() any          { return *r.StaticRoute }
func (r routeObject) stored() ([]byte, error) { return json.Marshal(r.StaticRoute) }

func routes() collection {
	wrap := func(r *api.StaticRoute) object { return routeObject{r} }
	return collection{
		kind: api.KindStaticRoute, noun: "static route", path: api.PathStaticRoutes, keyField: "id", serverKey: true,
		decode: decodeInto(api.NewStaticRoute, wrap, (*api.StaticRoute).Normalize),
		load:   loadInto(wrap),
		list: func(objs []object, rev uint64) any {
			l := api.StaticRouteList{Revision: rev, Items: make([]api.StaticRoute, len(objs))}
			for i, o := range objs {
				l.Items[i] = o.presented().(api.StaticRoute)
			}
			return l
		},
	}
}

type subjectObject struct{ *api.TLSPeerSubject }

func (s subjectObject) key() string             { return s.Subject }
func (s subjectObject) setKey(k string)         { s.Subject = k }
func (s subjectObject) validate() error         { return s.Validate() }
func (s subjectObject) presented() any          { return *s.TLSPeerSubject }
func (s subjectObject) stored() ([]byte, error) { return json.Marshal(s.TLSPeerSubject) }

func peerSubjects() collection {
	wrap := func(s *api.TLSPeerSubject) object { return subjectObject{s} }
	return collection{
		kind: api.KindTLSPeerSubject, noun: "TLS peer subject", path: api.PathTLSPeerSubjects, keyField: "subject",
		decode:    decodeInto(func() api.TLSPeerSubject { return api.TLSPeerSubject{} }, wrap, (*api.TLSPeerSubject).Normalize),
		load:      loadInto(wrap),
		deletable: subjectDeletable,
		list: func(objs []object, rev uint64) any {
			l := api.TLSPeerSubjectList{Revision: rev, Items: make([]api.TLSPeerSubject, len(objs))}
			for i, o := range objs {
				l.Items[i] = o.presented().(api.TLSPeerSubject)
			}
			return l
		},
	}
}

// checkDomain refuses a federated domain that is one of the node's own local domains (any
// partner could then send as a local user) and peer_subjects that name no TLS peer subject.
// A peer subject deleted between this check and the write leaves the domain naming a subject
// no certificate can match in a handshake: nobody may send for it, which fails closed.
func checkDomain(ctx context.Context, s *Server, v object) error {
	d := v.(domainObject)
	if slices.Contains(s.cfg.Routing.LocalDomains, d.Domain) {
		return api.FieldError("domain", "%q is a local domain of this proxy (--local-domain), never a partner: federating it would let any partner send as a local user", d.Domain)
	}
	for _, ps := range d.PeerSubjects {
		_, err := s.cfg.Store.Get(ctx, api.KindTLSPeerSubject, ps)
		if errors.Is(err, store.ErrNotFound) {
			return api.FieldError("peer_subjects", "names %q, which is not a TLS peer subject; create that TLS peer subject first", ps)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// subjectDeletable refuses to delete a TLS peer subject that a federated domain names in its
// peer_subjects: the domain would silently stop accepting its partner.
func subjectDeletable(ctx context.Context, s *Server, key string) error {
	objs, _, err := s.cfg.Store.List(ctx, api.KindFederatedDomain)
	if err != nil {
		return err
	}
	var users []string
	for _, o := range objs {
		var d api.FederatedDomain
		if err := json.Unmarshal(o.Value, &d); err != nil {
			return fmt.Errorf("stored federated domain %q: %w", o.Key, err)
		}
		if slices.Contains(d.PeerSubjects, key) {
			users = append(users, d.Domain)
		}
	}
	if len(users) == 0 {
		return nil
	}
	return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Field: "subject",
		Message: fmt.Sprintf("TLS peer subject %q is named in peer_subjects of federated domain(s) %s; remove it there first", key, strings.Join(users, ", "))}
}
