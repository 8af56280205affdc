terraform {
  required_providers {
    sip = {
      source = "sipfed/sip"
    }
  }
}

variable "tokens" {
  description = "Admin tokens by site."
  type        = map(string)
  sensitive   = true
}

# One provider configuration per proxy (or per cluster sharing one store).
provider "sip" {
  alias    = "emea"
  endpoint = "https://sipfed-admin.emea.example.com:7443"
  token    = var.tokens["emea"]
}

provider "sip" {
  alias    = "amer"
  endpoint = "https://sipfed-admin.amer.example.com:7443"
  token    = var.tokens["amer"]
}

locals {
  # The partners every site federates with.
  partners = {
    "contoso.example" = {
      description  = "Contoso"
      tls_subjects = ["sip.contoso.example"]
    }
  }
}

# The same partners on both sites: one module call per provider configuration.
module "partners_emea" {
  source    = "../../modules/partner"
  providers = { sip = sip.emea }
  partners  = local.partners
}

module "partners_amer" {
  source    = "../../modules/partner"
  providers = { sip = sip.amer }
  partners  = local.partners
}

# Settings that differ per site name their provider.
resource "sip_federation_routing_fqdn" "emea" {
  provider = sip.emea
  fqdn     = "sipfed-emea.example.com"
}

resource "sip_federation_routing_fqdn" "amer" {
  provider = sip.amer
  fqdn     = "sipfed-amer.example.com"
}
