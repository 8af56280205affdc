resource "sip_federated_domain" "fabrikam" {
  domain = "fabrikam.example"
}

# Fabrikam publishes no SRV record: route it statically to its Access Edge, the way the reference
# configures it (pattern ".example.fabrikam.*", port 5061, TLS, route type domain).
resource "sip_static_route" "fabrikam" {
  destination_pattern = ".example.fabrikam.*"
  next_hop            = "edge.fabrikam.example"
  description         = "Fabrikam Access Edge"
}

# A second edge, tried when the first fails: a higher priority number is tried later.
resource "sip_static_route" "fabrikam_backup" {
  destination_pattern = ".example.fabrikam.*"
  next_hop            = "198.51.100.20"
  priority            = 2
  description         = "Fabrikam backup edge"
}

# Take a route out of service without deleting it.
resource "sip_static_route" "fabrikam_lab" {
  destination_pattern = ".example.fabrikam.lab"
  next_hop            = "lab-edge.fabrikam.example"
  protocol            = "tcp"
  next_hop_port       = 5060
  allow_less_specific = false
  in_service          = false
}
