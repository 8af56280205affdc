# The external FQDN of the partner's Access Edge, as its certificate names it.
resource "sip_tls_peer_subject" "contoso_edge" {
  subject     = "sip.contoso.example"
  description = "Contoso Access Edge"
}
