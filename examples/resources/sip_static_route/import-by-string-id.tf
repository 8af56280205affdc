terraform {
  # import blocks with for_each.
  required_version = ">= 1.7"
}

# The import id is the id the proxy assigned to the route; the sip_static_routes data source lists
# them (`terraform console`: data.sip_static_routes.fabrikam.ids).
import {
  to = sip_static_route.fabrikam
  id = "3f2a9c01b7de"
}

# Terraform 1.7 or later: every route toward one partner, found by the data source, in one block.
data "sip_static_routes" "fabrikam" {
  domain = "fabrikam.example"
}

locals {
  fabrikam_routes = { for r in data.sip_static_routes.fabrikam.routes : r.id => r }
}

import {
  for_each = local.fabrikam_routes
  to       = sip_static_route.fabrikam_edge[each.key]
  id       = each.key
}

resource "sip_static_route" "fabrikam_edge" {
  for_each            = local.fabrikam_routes
  destination_pattern = each.value.destination_pattern
  next_hop            = each.value.next_hop
  next_hop_port       = each.value.next_hop_port
  protocol            = each.value.protocol
  priority            = each.value.priority
  weight              = each.value.weight
  description         = each.value.description
}
