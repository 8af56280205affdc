# Federation is on in a fresh proxy. Turning it off stops all federation traffic at once (partners
# get 503) and keeps the configuration; destroying the resource turns it back on.
variable "federation_enabled" {
  type    = bool
  default = true
}

resource "sip_federation_service" "this" {
  enabled = var.federation_enabled
}
