package routing

import (
	"cmp"
	"slices"
	"strings"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Changes names the keys that a batch of store changes touched, whether created, updated or
// deleted: Update reads their values from the Config and treats a key that is absent as deleted.
// A key may appear more than once.
type Changes struct {
	Domains      []string // keys of Config.Domains
	Routes       []string // keys of Config.Routes (route ids)
	PeerSubjects []string // keys of Config.PeerSubjects
}

// Add records a change of one stored object, by its kind (api.KindFederatedDomain,
// api.KindStaticRoute, api.KindTLSPeerSubject) and key, as a store's change events carry them.
// Other kinds (the routing FQDN, the federation service) need no key: Update always reads them.
func (c *Changes) Add(kind, key string) {
	switch kind {
	case api.KindFederatedDomain:
		c.Domains = append(c.Domains, key)
	case api.KindStaticRoute:
		c.Routes = append(c.Routes, key)
	case api.KindTLSPeerSubject:
		c.PeerSubjects = append(c.PeerSubjects, key)
	}
}

// Build makes a snapshot of cfg. Build copies what it needs (strings are shared, never copied):
// the caller may change cfg afterwards.
func Build(cfg *Config, opts Options) *Snapshot {
	b := newBuilder(newSnapshot(opts))
	b.domains.reserve(len(cfg.Domains))
	b.routes.reserve(len(cfg.Routes))
	b.patterns.reserve(len(cfg.Routes))
	for k := range cfg.Domains {
		b.domain(k, cfg)
	}
	for k := range cfg.Routes {
		b.route(k, cfg)
	}
	for k := range cfg.PeerSubjects {
		b.peer(k, cfg)
	}
	return b.finish(cfg)
}

// Update returns the snapshot of cfg, which is the configuration of s with the changes ch applied.
// It reuses every part of s that ch does not touch, so its cost grows with the size of the batch,
// not of the configuration; s itself stays valid and unchanged. The revision, routing FQDN and
// service switch are always read from cfg. Options cannot change: call Build for that.
//
// The caller keeps its configuration as the maps of a Config (the one the current snapshot was
// built from), applies a batch of store changes to them while it records each in a Changes, and
// publishes the result:
//
//	var ch routing.Changes
//	for _, ev := range batch {
//		apply(cfg, ev)           // set or delete cfg.Domains[ev.Key], cfg.Routes[ev.Key], ...
//		ch.Add(ev.Kind, ev.Key)
//	}
//	live.Store(live.Load().Update(cfg, ch))
//
// cfg must not change during the call. After a full reload of the configuration, call Build.
func (s *Snapshot) Update(cfg *Config, ch Changes) *Snapshot {
	b := newBuilder(s)
	for _, k := range ch.Domains {
		b.domain(k, cfg)
	}
	for _, k := range ch.Routes {
		b.route(k, cfg)
	}
	for _, k := range ch.PeerSubjects {
		b.peer(k, cfg)
	}
	return b.finish(cfg)
}

// builder makes the next snapshot from a copy of the previous one. The copy shares every table
// shard and every pattern with its origin; writers clone a shard, and own() a pattern, before the
// first change to it, so the origin is never written.
type builder struct {
	s          *Snapshot
	domains    tableWriter[domainInfo]
	patterns   tableWriter[patternPair]
	userExact  tableWriter[*pattern]
	userPrefix tableWriter[*pattern]
	routes     tableWriter[*route]
	peers      tableWriter[struct{}]
	owned      []*pattern // patterns made in this batch, settled by finish
	ownCounts  bool       // s.userPrefixCount is this batch's copy
}

func newBuilder(prev *Snapshot) *builder {
	s := new(Snapshot)
	*s = *prev
	b := &builder{s: s}
	b.domains.t, b.patterns.t, b.routes.t, b.peers.t = &s.domains, &s.patterns, &s.routes, &s.peers
	b.userExact.t, b.userPrefix.t = &s.userExact, &s.userPrefix
	return b
}

func (b *builder) domain(key string, cfg *Config) {
	name := normalizeName(key)
	d, ok := cfg.Domains[key]
	reason := ""
	switch {
	case !ok:
	case api.IsLocalhost(name):
		reason = "localhost is never a partner"
	case b.s.IsLocal(name):
		reason = "it is a local domain (--local-domain)"
	}
	b.ignore(name, reason)
	if !ok || reason != "" {
		b.domains.del(name)
		return
	}
	b.domains.set(name, domainInfo{
		description:  d.Description,
		aol:          strings.EqualFold(d.Type, api.DomainTypeAOL),
		direct:       d.DirectFederation,
		peerSubjects: api.NormalizeNames(d.PeerSubjects),
	})
}

// ignore records why a stored domain is left out ("" clears it), copying the map on change.
func (b *builder) ignore(name, reason string) {
	if old, ok := b.s.ignored[name]; ok == (reason != "") && old == reason {
		return
	}
	m := make(map[string]string, len(b.s.ignored)+1)
	for k, v := range b.s.ignored {
		m[k] = v
	}
	if reason == "" {
		delete(m, name)
	} else {
		m[name] = reason
	}
	if len(m) == 0 {
		m = nil
	}
	b.s.ignored = m
}

func (b *builder) peer(key string, cfg *Config) {
	name := lower(key)
	if _, ok := cfg.PeerSubjects[key]; ok {
		b.peers.set(name, struct{}{})
	} else {
		b.peers.del(name)
	}
}

func (b *builder) route(id string, cfg *Config) {
	if old, ok := b.s.routes.get(id); ok && old.has(flagInService) {
		b.detach(old)
	}
	in, ok := cfg.Routes[id]
	var r *route
	if ok {
		r = newRoute(id, &in)
	}
	if r == nil {
		b.routes.del(id)
		return
	}
	b.routes.set(id, r)
	if r.has(flagInService) {
		b.attach(r)
	}
}

func (b *builder) attach(r *route) {
	kind, key := r.slot()
	p := b.get(kind, key)
	if p == nil {
		p = &pattern{batch: b}
		b.owned = append(b.owned, p)
	} else {
		p = b.own(p)
	}
	p.routes = append(p.routes, r)
	b.put(kind, key, p)
}

func (b *builder) detach(r *route) {
	kind, key := r.slot()
	p := b.get(kind, key)
	if p == nil {
		return
	}
	i := slices.Index(p.routes, r)
	if i < 0 {
		return
	}
	if len(p.routes) == 1 {
		b.put(kind, key, nil)
		return
	}
	p = b.own(p)
	p.routes = slices.Delete(p.routes, i, i+1)
	b.put(kind, key, p)
}

// own returns a pattern this batch may change: p itself if the batch made it, else a copy.
func (b *builder) own(p *pattern) *pattern {
	if p.batch == b {
		return p
	}
	q := &pattern{routes: slices.Clone(p.routes), batch: b}
	b.owned = append(b.owned, q)
	return q
}

func (b *builder) get(kind slotKind, key string) *pattern {
	switch kind {
	case slotDomainExact:
		pp, _ := b.s.patterns.get(key)
		return pp.exact
	case slotDomainWild:
		pp, _ := b.s.patterns.get(key)
		return pp.wild
	case slotUserExact:
		p, _ := b.s.userExact.get(key)
		return p
	default:
		p, _ := b.s.userPrefix.get(key)
		return p
	}
}

// put stores p (nil: removes the pattern) in its index.
func (b *builder) put(kind slotKind, key string, p *pattern) {
	switch kind {
	case slotDomainExact, slotDomainWild:
		pp, _ := b.s.patterns.get(key)
		if kind == slotDomainExact {
			pp.exact = p
		} else {
			pp.wild = p
		}
		if pp.exact == nil && pp.wild == nil {
			b.patterns.del(key)
		} else {
			b.patterns.set(key, pp)
		}
	case slotUserExact:
		if p == nil {
			b.userExact.del(key)
		} else {
			b.userExact.set(key, p)
		}
	case slotUserPrefix:
		_, had := b.s.userPrefix.get(key)
		if p == nil {
			b.userPrefix.del(key)
		} else {
			b.userPrefix.set(key, p)
		}
		if had != (p != nil) {
			b.countPrefix(len(key), p != nil)
		}
	}
}

func (b *builder) countPrefix(n int, add bool) {
	if !b.ownCounts {
		b.s.userPrefixCount = slices.Clone(b.s.userPrefixCount)
		b.ownCounts = true
	}
	if n >= len(b.s.userPrefixCount) {
		b.s.userPrefixCount = append(b.s.userPrefixCount, make([]int32, n+1-len(b.s.userPrefixCount))...)
	}
	if add {
		b.s.userPrefixCount[n]++
	} else {
		b.s.userPrefixCount[n]--
	}
}

// finish settles the patterns this batch made and the scalar settings, and returns the snapshot.
func (b *builder) finish(cfg *Config) *Snapshot {
	for _, p := range b.owned {
		p.batch = nil // published: nobody changes it any more
		if len(p.routes) == 0 {
			continue // emptied later in the batch, and already removed from its index
		}
		slices.SortFunc(p.routes, compareRoutes)
		p.routes = slices.Clip(p.routes)
		p.blocked = p.routes[0].has(flagBlock)
		p.lessSpecific = true
		for _, r := range p.routes {
			if !r.has(flagBlock) && !r.has(flagAllowLessSpecific) {
				p.lessSpecific = false
			}
		}
	}
	if b.ownCounts {
		b.s.userPrefixLens = nil
		for n := len(b.s.userPrefixCount) - 1; n >= 0; n-- {
			if b.s.userPrefixCount[n] > 0 {
				b.s.userPrefixLens = append(b.s.userPrefixLens, n)
			}
		}
	}
	s := b.s
	s.revision = cfg.Revision
	s.serviceEnabled = cfg.ServiceEnabled
	s.routingFQDN = normalizeName(cfg.RoutingFQDN)
	if s.routingFQDN == "" {
		s.routingFQDN = s.opts.NodeFQDN
	}
	return s
}

// compareRoutes is the order a pattern keeps its routes in: block routes first (one makes the
// pattern answer 403), then priority, then weight ascending (weight 0 first, as RFC 2782's
// selection wants), then id, so that equal inputs give equal snapshots.
func compareRoutes(a, b *route) int {
	if ab, bb := a.has(flagBlock), b.has(flagBlock); ab != bb {
		if ab {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.weight, b.weight), strings.Compare(a.id, b.id))
}
