package api

import (
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of RFC 1123 names.
const (
	maxNameLength  = 253
	maxLabelLength = 63
	maxUserPattern = 128
)

// NormalizeName lower-cases a domain or host name, the form the store keeps: DNS names compare
// case-insensitively, and one spelling per name keeps keys unique.
func NormalizeName(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// ValidateDomain checks an RFC 1123 domain name: at most 253 characters, labels of 1 to 63 letters,
// digits and inner hyphens, no wildcard, not an IP address. field names the offending field.
func ValidateDomain(field, s string) error {
	if s == "" {
		return FieldError(field, "must not be empty")
	}
	if strings.Contains(s, "*") {
		return FieldError(field, "%q: a domain must not contain a wildcard", s)
	}
	if len(s) > maxNameLength {
		return FieldError(field, "%q: a domain has at most %d characters, this one has %d", truncate(s), maxNameLength, len(s))
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if err := validateLabel(field, s, l); err != nil {
			return err
		}
	}
	if isNumeric(labels[len(labels)-1]) {
		return FieldError(field, "%q: the last label must not be all digits (an IP address is not a domain)", s)
	}
	return nil
}

// IsLocalhost reports whether a domain is localhost or a name under it (RFC 6761 6.3).
func IsLocalhost(domain string) bool {
	return domain == "localhost" || strings.HasSuffix(domain, ".localhost")
}

// ValidateHost checks a next hop: an IPv4 or IPv6 literal, or an RFC 1123 host name.
func ValidateHost(field, s string) error {
	if s == "" {
		return FieldError(field, "must not be empty")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return FieldError(field, "%q: an IPv6 zone is not allowed", s)
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return FieldError(field, "%q: must be a unicast address", s)
		}
		return nil
	}
	if err := ValidateDomain(field, s); err != nil {
		return FieldError(field, "%q is neither an IP address nor a valid host name: %s", truncate(s), err.(*Error).Message)
	}
	return nil
}

func validateLabel(field, name, l string) error {
	switch {
	case l == "":
		return FieldError(field, "%q: empty label (leading, trailing or double dot)", truncate(name))
	case len(l) > maxLabelLength:
		return FieldError(field, "%q: label %q has %d characters, at most %d are allowed", truncate(name), truncate(l), len(l), maxLabelLength)
	case l[0] == '-' || l[len(l)-1] == '-':
		return FieldError(field, "%q: label %q must not start or end with a hyphen", truncate(name), l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return FieldError(field, "%q: label %q has %q; only letters, digits and hyphens are allowed", truncate(name), truncate(l), rune(c))
		}
	}
	return nil
}

// ValidateDestinationPattern checks a static route pattern. For route_type "domain": a reversed
// domain with a leading dot and an optional trailing ".*" (".com.domaina", ".com.domaina.*"), or
// ".*" alone, which matches every domain. For route_type "user": the user part of a SIP URI, with
// an optional trailing "*" that matches every user beginning with what precedes it.
func ValidateDestinationPattern(field, routeType, s string) error {
	if s == "" {
		return FieldError(field, "must not be empty")
	}
	if routeType == RouteTypeUser {
		return validateUserPattern(field, s)
	}
	if s == ".*" {
		return nil
	}
	if s[0] != '.' {
		return FieldError(field, "%q: a domain pattern is the domain reversed with a leading dot, e.g. \".com.domaina.*\" for domaina.com", truncate(s))
	}
	body := strings.TrimSuffix(s[1:], ".*")
	if strings.Contains(body, "*") {
		return FieldError(field, "%q: a wildcard is allowed only as the final \".*\"", truncate(s))
	}
	if len(body) > maxNameLength {
		return FieldError(field, "%q: at most %d characters of domain, this one has %d", truncate(s), maxNameLength, len(body))
	}
	for _, l := range strings.Split(body, ".") {
		if err := validateLabel(field, s, l); err != nil {
			return err
		}
	}
	return nil
}

func validateUserPattern(field, s string) error {
	if len(s) > maxUserPattern {
		return FieldError(field, "%q: a user pattern has at most %d characters", truncate(s), maxUserPattern)
	}
	body := strings.TrimSuffix(s, "*")
	if body == "" && s != "*" {
		return FieldError(field, "must not be empty")
	}
	for _, c := range body {
		if !isUserChar(c) {
			return FieldError(field, "%q: %q is not allowed in a user pattern (letters, digits and -_.!~'()+,;=$&%% only; \"*\" only at the end)", truncate(s), c)
		}
	}
	return nil
}

// isUserChar: RFC 3261 user unreserved characters, without escapes.
func isUserChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.ContainsRune("-_.!~'()+,;=$&%", c)
}

// ValidatePort checks a TCP/UDP port.
func ValidatePort(field string, p int) error {
	if p < 1 || p > 65535 {
		return FieldError(field, "%d is out of range: a port is 1 to 65535", p)
	}
	return nil
}

// ValidateRange checks an integer against inclusive bounds.
func ValidateRange(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return FieldError(field, "%d is out of range: %d to %d", v, lo, hi)
	}
	return nil
}

// ValidateEnum checks a value against its allowed set.
func ValidateEnum(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return FieldError(field, "%q is not one of %s", truncate(v), quoteList(allowed))
}

// ValidateDescription checks a free-text description: at most 255 characters, valid UTF-8, no
// control characters (they break the admin UI of the reference and log lines alike).
func ValidateDescription(field, s string) error {
	if !utf8.ValidString(s) {
		return FieldError(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxDescriptionLength {
		return FieldError(field, "has %d characters, at most %d are allowed", n, MaxDescriptionLength)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return FieldError(field, "must not contain control characters")
		}
	}
	return nil
}

// Priority and weight bounds (RFC 2782 uses 16-bit fields; priority 0 is reserved here so that
// "unset" never reads as "most preferred").
const (
	MinPriority = 1
	MaxPriority = 65535
	MinWeight   = 0
	MaxWeight   = 65535
)

// Normalize puts a federated domain into the form the store keeps.
func (d *FederatedDomain) Normalize() {
	d.Domain = NormalizeName(d.Domain)
	d.Type = orDefault(strings.ToLower(d.Type), DefaultDomainType)
	d.IncomingACL = ""
	d.PeerSubjects = NormalizeNames(d.PeerSubjects)
}

// NormalizeNames normalizes each name, drops duplicates and sorts them; nil for none.
func NormalizeNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, NormalizeName(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MaxPeerSubjectsPerDomain bounds a federated domain's peer_subjects: a partner has a handful of
// edges, and the list is checked on every request from the domain.
const MaxPeerSubjectsPerDomain = 64

// orDefault reads an empty enum as "unset": a client that leaves a string out and one that sends
// it empty mean the same.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// ValidatePeerSubjects checks a federated domain's peer_subjects: at most
// MaxPeerSubjectsPerDomain names, each a domain name. That each is a TLS peer subject is the
// proxy's check, against its configuration.
func ValidatePeerSubjects(field string, names []string) error {
	if len(names) > MaxPeerSubjectsPerDomain {
		return FieldError(field, "has %d names; at most %d are allowed", len(names), MaxPeerSubjectsPerDomain)
	}
	for _, ps := range names {
		if err := ValidateDomain(field, ps); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports the first invalid field.
func (d *FederatedDomain) Validate() error {
	if err := ValidateDomain("domain", d.Domain); err != nil {
		return err
	}
	if IsLocalhost(d.Domain) {
		return FieldError("domain", "%q is the local host, never a partner: federating it would let any partner send as a local user", d.Domain)
	}
	if err := ValidatePeerSubjects("peer_subjects", d.PeerSubjects); err != nil {
		return err
	}
	if err := ValidateDescription("description", d.Description); err != nil {
		return err
	}
	return ValidateEnum("type", d.Type, DomainTypeLync, DomainTypeAOL)
}

// Normalize puts a static route into the form the store keeps.
func (r *StaticRoute) Normalize() {
	r.RouteType = orDefault(strings.ToLower(r.RouteType), DefaultRouteType)
	r.Protocol = orDefault(strings.ToLower(r.Protocol), DefaultProtocol)
	if r.RouteType != RouteTypeUser {
		r.DestinationPattern = NormalizeName(r.DestinationPattern)
	}
	r.NextHop = NormalizeName(r.NextHop)
	if a, err := netip.ParseAddr(r.NextHop); err == nil {
		r.NextHop = a.String()
	}
}

// Validate reports the first invalid field.
func (r *StaticRoute) Validate() error {
	if err := ValidateEnum("route_type", r.RouteType, RouteTypeDomain, RouteTypeUser); err != nil {
		return err
	}
	if err := ValidateDestinationPattern("destination_pattern", r.RouteType, r.DestinationPattern); err != nil {
		return err
	}
	if err := ValidateHost("next_hop", r.NextHop); err != nil {
		return err
	}
	if err := ValidatePort("next_hop_port", r.NextHopPort); err != nil {
		return err
	}
	if err := ValidateEnum("protocol", r.Protocol, ProtocolTLS, ProtocolTCP, ProtocolUDP); err != nil {
		return err
	}
	if err := ValidateRange("priority", r.Priority, MinPriority, MaxPriority); err != nil {
		return err
	}
	if err := ValidateRange("weight", r.Weight, MinWeight, MaxWeight); err != nil {
		return err
	}
	return ValidateDescription("description", r.Description)
}

// Normalize puts a TLS peer subject into the form the store keeps.
func (s *TLSPeerSubject) Normalize() {
	s.Subject = NormalizeName(s.Subject)
}

// Validate reports the first invalid field.
func (s *TLSPeerSubject) Validate() error {
	if err := ValidateDomain("subject", s.Subject); err != nil {
		return err
	}
	return ValidateDescription("description", s.Description)
}

// Normalize puts the routing FQDN into the form the store keeps.
func (f *FederationRoutingFQDN) Normalize() {
	f.FQDN = NormalizeName(f.FQDN)
	f.NodeFQDN = ""
}

// Validate reports the first invalid field.
func (f *FederationRoutingFQDN) Validate() error {
	return ValidateDomain("fqdn", f.FQDN)
}

// DestinationPattern returns the static route pattern that matches a domain and all its
// subdomains: "domaina.com" gives ".com.domaina.*", as the reference configures it.
func DestinationPattern(domain string) string {
	labels := strings.Split(NormalizeName(domain), ".")
	var b strings.Builder
	b.Grow(len(domain) + 3)
	for i := len(labels) - 1; i >= 0; i-- {
		b.WriteByte('.')
		b.WriteString(labels[i])
	}
	b.WriteString(".*")
	return b.String()
}

// FederationSRVName returns the SRV owner name partners look up to find a domain's federation edge.
func FederationSRVName(domain string) string {
	return "_sipfederationtls._tcp." + NormalizeName(domain)
}

func isNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// truncate keeps error messages readable when the offending value is huge.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = `"` + v + `"`
	}
	return strings.Join(q, ", ")
}

// DomainPatternMatches reports whether a domain static route pattern matches a domain, as routing
// matches a Request-URI's domain: ".com.domaina" matches domaina.com only, ".com.domaina.*" also
// every name under it, ".*" every domain. It answers false for a pattern that is not valid.
func DomainPatternMatches(pattern, domain string) bool {
	name, wild, ok := SplitDomainPattern(pattern)
	if !ok {
		return false
	}
	domain = NormalizeName(domain)
	return (wild && name == "") || domain == name || (wild && strings.HasSuffix(domain, "."+name))
}

// SplitDomainPattern reads a domain static route pattern: the domain it names, in the usual
// order, and whether it also matches the names under it. ".*" gives "" and true.
func SplitDomainPattern(pattern string) (domain string, wildcard, ok bool) {
	if pattern == ".*" {
		return "", true, true
	}
	body, wild := strings.CutSuffix(pattern, ".*")
	rev, ok := strings.CutPrefix(body, ".")
	if !ok || rev == "" {
		return "", false, false
	}
	labels := strings.Split(rev, ".")
	slices.Reverse(labels)
	return strings.Join(labels, "."), wild, true
}
