# Every route that routing would try for fabrikam.example, with the ids to import them by.
data "sip_static_routes" "fabrikam" {
  domain = "fabrikam.example"
}

# Every route toward one edge.
data "sip_static_routes" "via_edge" {
  next_hop = "edge.fabrikam.example"
}

output "fabrikam_route_ids" {
  value = data.sip_static_routes.fabrikam.ids
}
