# The public name partners see; it must be the target of the _sipfederationtls._tcp SRV records
# of every local domain (see the sip_federation_srv_records data source).
resource "sip_federation_routing_fqdn" "this" {
  fqdn = "sipfed.example.com"
}
