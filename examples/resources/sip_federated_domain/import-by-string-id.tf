terraform {
  # import blocks with for_each.
  required_version = ">= 1.7"
}

# The import id is the domain.
import {
  to = sip_federated_domain.contoso
  id = "contoso.example"
}

# Terraform 1.7 or later: every federated domain the proxy already has, in one block.
data "sip_federated_domains" "existing" {}

import {
  for_each = toset(data.sip_federated_domains.existing.names)
  to       = sip_federated_domain.partner[each.key]
  id       = each.key
}

resource "sip_federated_domain" "partner" {
  for_each = toset(data.sip_federated_domains.existing.names)
  domain   = each.key
}
