// Package identity reads a SIP peer's identity from its certificate (RFC 5922) and builds the TLS
// configurations of the proxy from its TLS flags: the mutual-TLS server of the external listener,
// the client toward partners, and the plain server and client of the internal side.
package identity

import (
	"crypto/x509"
	"encoding/asn1"
	"net/url"
	"strings"
)

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// Of returns the SIP identities a certificate asserts, lower-cased, per RFC 5922 section 7.1:
// the host parts of its subjectAltName URIs of scheme sip; if it has none, its subjectAltName DNS
// names; and its subject CN only when the certificate has no subjectAltName extension at all.
// Identities are whole names: a wildcard DNS name is returned as it is and matches only itself.
func Of(cert *x509.Certificate) []string {
	if cert == nil {
		return nil
	}
	var ids []string
	for _, u := range cert.URIs {
		if h, ok := sipHost(u); ok {
			ids = append(ids, h)
		}
	}
	if len(ids) > 0 {
		return ids
	}
	for _, d := range cert.DNSNames {
		if d != "" {
			ids = append(ids, strings.ToLower(d))
		}
	}
	if len(ids) > 0 || hasSAN(cert) {
		return ids
	}
	if cn := cert.Subject.CommonName; cn != "" {
		return []string{strings.ToLower(cn)}
	}
	return nil
}

// Match returns the first identity of cert that accept takes, without allocating: the SIP path
// calls it per request.
func Match(cert *x509.Certificate, accept func(identity string) bool) (string, bool) {
	if cert == nil {
		return "", false
	}
	sawURI := false
	for _, u := range cert.URIs {
		if h, ok := sipHost(u); ok {
			sawURI = true
			if accept(h) {
				return h, true
			}
		}
	}
	if sawURI {
		return "", false
	}
	for _, d := range cert.DNSNames {
		if d != "" && accept(strings.ToLower(d)) {
			return strings.ToLower(d), true
		}
	}
	if len(cert.DNSNames) > 0 || hasSAN(cert) {
		return "", false
	}
	if cn := strings.ToLower(cert.Subject.CommonName); cn != "" && accept(cn) {
		return cn, true
	}
	return "", false
}

// sipHost is the domain of a sip: URI with no user part. RFC 5922 identities are SIP domains, so
// an address of record (sip:alice@example.com) names a user, not the peer.
func sipHost(u *url.URL) (string, bool) {
	if u == nil || !strings.EqualFold(u.Scheme, "sip") {
		return "", false
	}
	// url.Parse keeps "sip:host;params" opaque: no authority part.
	s := u.Opaque
	if s == "" {
		s = u.Host
	}
	if i := strings.IndexAny(s, ";?"); i >= 0 {
		s = s[:i]
	}
	if s == "" || strings.Contains(s, "@") {
		return "", false
	}
	if h, _, ok := strings.Cut(s, ":"); ok && !strings.HasPrefix(s, "[") {
		s = h
	}
	return strings.ToLower(s), true
}

func hasSAN(cert *x509.Certificate) bool {
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidSubjectAltName) {
			return true
		}
	}
	return false
}
