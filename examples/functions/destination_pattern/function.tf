# Terraform 1.8 or later.
resource "sip_static_route" "fabrikam" {
  destination_pattern = provider::sip::destination_pattern("fabrikam.example") # ".example.fabrikam.*"
  next_hop            = "edge.fabrikam.example"
}
