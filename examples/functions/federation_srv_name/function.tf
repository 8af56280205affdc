terraform {
  # Provider functions.
  required_version = ">= 1.8"
}

output "partner_srv_name" {
  value = provider::sip::federation_srv_name("contoso.example") # "_sipfederationtls._tcp.contoso.example"
}
