terraform {
  # Provider functions.
  required_version = ">= 1.8"
}

resource "sip_static_route" "fabrikam" {
  destination_pattern = provider::sip::destination_pattern("fabrikam.example") # ".example.fabrikam.*"
  next_hop            = "edge.fabrikam.example"
}
