locals {
  routing_fqdn = "sipfed.example.com"
}

resource "sip_federation_routing_fqdn" "this" {
  fqdn = local.routing_fqdn
}

# The records take the routing FQDN from the configuration, not from the resource: a data source
# that depends on a resource with changes (by reference or depends_on) is read only at apply, and
# a for_each over records not known at plan fails. From the local, they are known when Terraform
# plans, so the for_each below works on the first apply.
data "sip_federation_srv_records" "publish" {
  federation_routing_fqdn = local.routing_fqdn
}

# One record per local domain. terraform_data stands in for your DNS provider's SRV record, e.g.
# with AWS Route 53:
#
# resource "aws_route53_record" "sipfederationtls" {
#   for_each = { for r in data.sip_federation_srv_records.publish.records : r.domain => r }
#   zone_id  = var.zone_ids[each.key]
#   name     = each.value.name
#   type     = "SRV"
#   ttl      = 3600
#   records  = ["${each.value.priority} ${each.value.weight} ${each.value.port} ${each.value.target}."]
# }
resource "terraform_data" "sipfederationtls" {
  for_each = { for r in data.sip_federation_srv_records.publish.records : r.domain => r }
  input    = "${each.value.name}. 3600 IN SRV ${each.value.priority} ${each.value.weight} ${each.value.port} ${each.value.target}."
}

output "srv_records" {
  value = [for r in data.sip_federation_srv_records.publish.records :
  "${r.name}. 3600 IN SRV ${r.priority} ${r.weight} ${r.port} ${r.target}."]
}
