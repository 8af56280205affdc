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

output "contoso_incoming_acl" {
  value = sip_federated_domain.contoso.incoming_acl
}
