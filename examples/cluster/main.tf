# A cluster of proxies has one public name. Partners find it through the _sipfederationtls SRV
# record of each local domain; the name resolves to every node's public address, so partners
# spread over the nodes and a node that fails drops out of their choice.

resource "sip_federation_routing_fqdn" "this" {
  fqdn = var.federation_routing_fqdn
}

# The records to publish, read from the cluster: one SRV record per local domain, and one A or
# AAAA record per node's public address (--public-address).
data "sip_federation_srv_records" "publish" {
  depends_on = [sip_federation_routing_fqdn.this]
}
