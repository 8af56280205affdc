package api

import (
	"strconv"
	"strings"
)

// SIPURI is what routing reads of a SIP URI: the user part and the domain.
type SIPURI struct {
	User string
	Host string
	Port int
}

// ParseSIPURI reads a sip: or sips: URI whose host is a domain, as the explain endpoint and the
// sip_route data source take it: "sip:bob@domaina.com", "sips:domaina.com;transport=tls". The host
// is normalized to lower case. field names the offending field in the error.
func ParseSIPURI(field, raw string) (SIPURI, error) {
	if raw == "" {
		return SIPURI{}, FieldError(field, "is required, e.g. sip:bob@domaina.com")
	}
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || (!strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips")) {
		return SIPURI{}, FieldError(field, "%q is not a SIP URI: it must start with sip: or sips:", truncate(raw))
	}
	// Parameters and headers do not take part in routing.
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	var u SIPURI
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		u.User, rest = rest[:i], rest[i+1:]
		if name, _, hasPassword := strings.Cut(u.User, ":"); hasPassword {
			u.User = name
		}
		if u.User == "" || strings.ContainsAny(u.User, " \t<>\"@") {
			return SIPURI{}, FieldError(field, "%q: the user part %q is not valid", truncate(raw), truncate(u.User))
		}
	}
	host := rest
	if h, p, hasPort := strings.Cut(rest, ":"); hasPort {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return SIPURI{}, FieldError(field, "%q: port %q is not 1 to 65535", truncate(raw), p)
		}
		host, u.Port = h, port
	}
	u.Host = NormalizeName(host)
	if err := ValidateDomain(field, u.Host); err != nil {
		return SIPURI{}, FieldError(field, "%q: the host must be a domain: %s", truncate(raw), err.(*Error).Message)
	}
	return u, nil
}
