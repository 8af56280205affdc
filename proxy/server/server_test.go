package server_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

func TestAdminAPIOverHTTPS(t *testing.T) {
	ca := testpki.MustCA("admin CA")
	leaf := ca.MustIssue(testpki.LeafOptions{CN: "imp1.example.com", DNS: []string{"imp1.example.com"}, IPs: nil})
	p := servertest.Start(t, func(c *server.Config) {
		c.AdminTLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, MinVersion: tls.VersionTLS12}
	})
	if !strings.HasPrefix(p.AdminURL(), "https://") {
		t.Fatalf("admin URL %s", p.AdminURL())
	}
	ctx := context.Background()
	good, err := api.NewClient(p.AdminURL(), p.Token, api.WithRetry(api.Retry{Attempts: 1}),
		api.WithTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "imp1.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := good.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "a.com"}); err != nil {
		t.Fatalf("over HTTPS with the right CA: %v", err)
	}
	untrusting, _ := api.NewClient(p.AdminURL(), p.Token, api.WithRetry(api.Retry{Attempts: 1}))
	if _, err := untrusting.ListFederatedDomains(ctx); err == nil {
		t.Fatal("a client that does not trust the admin certificate got through")
	}
	plain, _ := api.NewClient(strings.Replace(p.AdminURL(), "https://", "http://", 1), p.Token, api.WithRetry(api.Retry{Attempts: 1}))
	if _, err := plain.ListFederatedDomains(ctx); err == nil {
		t.Fatal("plain HTTP to the HTTPS admin API succeeded")
	}
}
