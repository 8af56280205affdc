package admin

import (
	"encoding/json"

	"github.com/sipfed/terraform-provider-sip/internal/api"
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
		decode: decodeInto(func() api.TLSPeerSubject { return api.TLSPeerSubject{} }, wrap, (*api.TLSPeerSubject).Normalize),
		load:   loadInto(wrap),
		list: func(objs []object, rev uint64) any {
			l := api.TLSPeerSubjectList{Revision: rev, Items: make([]api.TLSPeerSubject, len(objs))}
			for i, o := range objs {
				l.Items[i] = o.presented().(api.TLSPeerSubject)
			}
			return l
		},
	}
}
