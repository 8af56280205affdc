terraform {
  # import blocks with for_each.
  required_version = ">= 1.7"

  required_providers {
    sip = {
      source = "sipfed/sip"
    }
  }
}

provider "sip" {}

# What the proxy has now, whoever configured it.
data "sip_federated_domains" "existing" {}

data "sip_static_routes" "existing" {}

data "sip_tls_peer_subjects" "existing" {}

locals {
  domains  = { for d in data.sip_federated_domains.existing.domains : d.domain => d }
  routes   = { for r in data.sip_static_routes.existing.routes : r.id => r }
  subjects = { for s in data.sip_tls_peer_subjects.existing.subjects : s.subject => s }
}

import {
  for_each = local.domains
  to       = sip_federated_domain.this[each.key]
  id       = each.key
}

import {
  for_each = local.routes
  to       = sip_static_route.this[each.key]
  id       = each.key
}

import {
  for_each = local.subjects
  to       = sip_tls_peer_subject.this[each.key]
  id       = each.key
}

import {
  to = sip_federation_routing_fqdn.this
  id = "federation-routing-fqdn"
}

import {
  to = sip_federation_service.this
  id = "federation-service"
}

# Each resource takes every attribute from what the proxy holds, so the first plan imports
# everything and changes nothing.
resource "sip_federated_domain" "this" {
  for_each          = local.domains
  domain            = each.key
  description       = each.value.description
  type              = each.value.type
  direct_federation = each.value.direct_federation
  peer_subjects     = length(each.value.peer_subjects) > 0 ? each.value.peer_subjects : null
}

resource "sip_static_route" "this" {
  for_each            = local.routes
  destination_pattern = each.value.destination_pattern
  next_hop            = each.value.next_hop
  next_hop_port       = each.value.next_hop_port
  protocol            = each.value.protocol
  route_type          = each.value.route_type
  priority            = each.value.priority
  weight              = each.value.weight
  allow_less_specific = each.value.allow_less_specific
  in_service          = each.value.in_service
  block               = each.value.block
  description         = each.value.description
}

resource "sip_tls_peer_subject" "this" {
  for_each    = local.subjects
  subject     = each.key
  description = each.value.description
}

variable "federation_routing_fqdn" {
  description = "The routing FQDN the proxy has now (GET /v1/federation-routing-fqdn)."
  type        = string
}

resource "sip_federation_routing_fqdn" "this" {
  fqdn = var.federation_routing_fqdn
}

resource "sip_federation_service" "this" {}
