# Terraform 1.8 or later.
output "partner_srv_name" {
  value = provider::sip::federation_srv_name("contoso.example") # "_sipfederationtls._tcp.contoso.example"
}
