# An admin API served over TLS with a private CA, with every setting explicit.
variable "sipfed_token" {
  type      = string
  sensitive = true
}

provider "sip" {
  alias           = "dc2"
  endpoint        = "https://sipfed-admin.dc2.example.com:7443"
  token           = var.sipfed_token
  ca_cert         = file("${path.module}/sipfed-admin-ca.pem")
  request_timeout = "20s"
  retry_timeout   = "1m"
}
