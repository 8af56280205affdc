resource "sip_federation_routing_fqdn" "this" {
  fqdn = "sipfed.example.com"
}

data "sip_federation_srv_records" "publish" {
  depends_on = [sip_federation_routing_fqdn.this]
}

# Publish the records with your DNS provider, e.g. AWS Route 53:
#
# resource "aws_route53_record" "sipfederationtls" {
#   for_each = { for r in data.sip_federation_srv_records.publish.records : r.domain => r }
#   zone_id  = var.zone_ids[each.key]
#   name     = each.value.name
#   type     = "SRV"
#   ttl      = 3600
#   records  = ["${each.value.priority} ${each.value.weight} ${each.value.port} ${each.value.target}."]
# }

output "srv_records" {
  value = [for r in data.sip_federation_srv_records.publish.records :
  "${r.name}. 3600 IN SRV ${r.priority} ${r.weight} ${r.port} ${r.target}."]
}
