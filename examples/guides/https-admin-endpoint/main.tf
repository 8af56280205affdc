terraform {
  required_providers {
    sip = {
      source = "sipfed/sip"
    }
  }
}

# The token comes from SIPFED_TOKEN; the CA that signed the admin API's certificate from a file
# next to the configuration (or from SIPFED_CA_CERT).
provider "sip" {
  endpoint = "https://sipfed-admin.example.com:7443"
  ca_cert  = file("${path.module}/sipfed-admin-ca.pem")
}
