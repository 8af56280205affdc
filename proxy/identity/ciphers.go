package identity

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// openSSLNames maps the OpenSSL spelling of TLS 1.2 suites, the one the reference's TLS context
// and most SIP documentation use, to Go's.
var openSSLNames = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"RC4-SHA":                       tls.TLS_RSA_WITH_RC4_128_SHA,
	"ECDHE-RSA-RC4-SHA":             tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	"ECDHE-ECDSA-RC4-SHA":           tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
}

// nonECDefaults are added to Go's TLS 1.2 defaults when no list is given: Go's defaults are all
// ECDHE, and Lync/Skype for Business edges negotiate only RSA key exchange.
var nonECDefaults = []uint16{
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// cipherList is a parsed --tls-ciphers value.
type cipherList struct {
	tls12  []uint16 // configurable suites, in the order given
	tls13  []string // TLS 1.3 names given: accepted, but Go always enables all TLS 1.3 suites
	suites map[uint16]*tls.CipherSuite
}

// ParseCiphers parses a cipher suite list: names separated by commas, colons or spaces, in Go's
// spelling (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) or OpenSSL's (ECDHE-RSA-AES128-GCM-SHA256). It
// refuses unknown and broken (RC4, 3DES) suites, and a list of elliptic-curve suites only: the
// reference's rule, because Lync/Skype for Business peers do not support EC cipher suites.
// An empty list returns nil: use the defaults.
func ParseCiphers(list string) ([]uint16, error) {
	cl, err := parseCipherList(list)
	if err != nil {
		return nil, err
	}
	return cl.tls12, nil
}

func parseCipherList(list string) (cipherList, error) {
	cl := cipherList{suites: map[uint16]*tls.CipherSuite{}}
	byName := map[string]*tls.CipherSuite{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s
		cl.suites[s.ID] = s
	}
	insecure := map[uint16]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		byName[s.Name] = s
		cl.suites[s.ID] = s
		insecure[s.ID] = strings.Contains(s.Name, "RC4") || strings.Contains(s.Name, "3DES")
	}
	names := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ':' || r == ' ' || r == '\t' })
	if len(names) == 0 {
		return cl, nil
	}
	seen := map[uint16]bool{}
	for _, n := range names {
		s, ok := byName[strings.ToUpper(n)]
		if !ok {
			id, ok2 := openSSLNames[strings.ToUpper(n)]
			if !ok2 {
				return cl, fmt.Errorf("--tls-ciphers: unknown cipher suite %q (use Go names such as TLS_RSA_WITH_AES_128_GCM_SHA256 or OpenSSL names such as AES128-GCM-SHA256)", n)
			}
			s = cl.suites[id]
		}
		if insecure[s.ID] {
			return cl, fmt.Errorf("--tls-ciphers: %s is broken (RC4 or 3DES) and is refused", s.Name)
		}
		if isTLS13Only(s) {
			cl.tls13 = append(cl.tls13, s.Name)
			continue
		}
		if !seen[s.ID] {
			seen[s.ID] = true
			cl.tls12 = append(cl.tls12, s.ID)
		}
	}
	if len(cl.tls12) == 0 {
		return cl, fmt.Errorf("--tls-ciphers: no TLS 1.2 cipher suite selected (%s are TLS 1.3 suites, which are always on); to allow TLS 1.3 only, set --tls-min-version 1.3 and leave --tls-ciphers empty", strings.Join(cl.tls13, ", "))
	}
	ecOnly := true
	for _, id := range cl.tls12 {
		if !IsEC(id) {
			ecOnly = false
		}
	}
	if ecOnly {
		return cl, fmt.Errorf("--tls-ciphers selects elliptic-curve (ECDHE) cipher suites only; Microsoft Lync/Skype for Business peers do not support EC cipher suites, so select non-EC suites only or mix EC with non-EC suites (e.g. add TLS_RSA_WITH_AES_128_GCM_SHA256)")
	}
	return cl, nil
}

// IsEC reports whether a TLS 1.2 suite uses elliptic-curve key exchange.
func IsEC(id uint16) bool {
	return strings.HasPrefix(tls.CipherSuiteName(id), "TLS_ECDHE_")
}

func isECDSA(id uint16) bool {
	return strings.HasPrefix(tls.CipherSuiteName(id), "TLS_ECDHE_ECDSA_")
}

func isTLS13Only(s *tls.CipherSuite) bool {
	for _, v := range s.SupportedVersions {
		if v != tls.VersionTLS13 {
			return false
		}
	}
	return true
}

// defaultSuites is Go's secure TLS 1.2 list followed by the non-EC suites Lync needs.
func defaultSuites() []uint16 {
	var out []uint16
	for _, s := range tls.CipherSuites() {
		if !isTLS13Only(s) {
			out = append(out, s.ID)
		}
	}
	return append(out, nonECDefaults...)
}

// ParseMinVersion parses --tls-min-version: 1.2 (the default when empty) or 1.3.
func ParseMinVersion(s string) (uint16, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "1.2", "tls1.2", "tlsv1.2", "tls12":
		return tls.VersionTLS12, nil
	case "1.3", "tls1.3", "tlsv1.3", "tls13":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version: %q is not 1.2 or 1.3", s)
}
