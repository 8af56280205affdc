package identity

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

func TestParseCiphers(t *testing.T) {
	got, err := ParseCiphers("ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA, TLS_RSA_WITH_AES_256_GCM_SHA384 TLS_AES_128_GCM_SHA256")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseCiphers = %v, want %v", got, want)
	}
	if got, err := ParseCiphers(""); err != nil || got != nil {
		t.Fatalf("empty list = %v, %v; want defaults (nil)", got, err)
	}
}

func TestParseCiphersRefuses(t *testing.T) {
	cases := map[string]string{
		"ECDHE-RSA-AES128-GCM-SHA256,ECDHE-ECDSA-AES256-GCM-SHA384": "Lync",
		"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256":                     "elliptic-curve",
		"AES128-SHA,NOPE":                                           "unknown",
		"RC4-SHA,AES128-SHA":                                        "broken",
		"TLS_AES_128_GCM_SHA256":                                    "TLS 1.3",
	}
	for list, want := range cases {
		_, err := ParseCiphers(list)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCiphers(%q) = %v, want an error mentioning %q", list, err, want)
		}
	}
}

func TestParseMinVersion(t *testing.T) {
	for in, want := range map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13, "TLSv1.3": tls.VersionTLS13} {
		if got, err := ParseMinVersion(in); err != nil || got != want {
			t.Errorf("ParseMinVersion(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMinVersion("1.1"); err == nil {
		t.Error("1.1 accepted")
	}
}

func TestDefaultsMixNonEC(t *testing.T) {
	var ec, nonEC int
	for _, id := range defaultSuites() {
		if IsEC(id) {
			ec++
		} else {
			nonEC++
		}
	}
	if ec == 0 || nonEC == 0 {
		t.Fatalf("default suites: %d EC, %d non-EC; want both", ec, nonEC)
	}
}
