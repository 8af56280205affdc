# A Microsoft Lync/Skype for Business partner, found through its _sipfederationtls._tcp SRV record.
resource "sip_federated_domain" "contoso" {
  domain      = "contoso.example"
  description = "Contoso (Skype for Business)"
}

# A domain hosted by AOL: when neither a static route nor SRV finds it, the proxy falls back to
# the default federation routing domain (aol.com).
resource "sip_federated_domain" "hosted" {
  domain      = "hosted-partner.example"
  description = "Hosted Partner (AOL)"
  type        = "aol"
}

# Only the partner's own edges may send for it: their certificates must present one of these
# identities.
resource "sip_tls_peer_subject" "fabrikam_edge" {
  subject = "sip.fabrikam.example"
}

resource "sip_federated_domain" "fabrikam" {
  domain        = "fabrikam.example"
  description   = "Fabrikam"
  peer_subjects = [sip_tls_peer_subject.fabrikam_edge.subject]
}

output "contoso_incoming_acl" {
  value = sip_federated_domain.contoso.incoming_acl
}
