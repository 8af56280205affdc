output "srv_records_to_publish" {
  description = "The _sipfederationtls._tcp records to publish, one per local domain."
  value       = data.sip_federation_srv_records.publish.records
}

output "srv_zone_lines" {
  description = "The same records as zone file lines."
  value = [for r in data.sip_federation_srv_records.publish.records :
  "${r.name}. 3600 IN SRV ${r.priority} ${r.weight} ${r.port} ${r.target}."]
}

output "federated_domains" {
  description = "Partner domains and their incoming ACLs."
  value       = module.partners.federated_domains
}

output "aol_partner_route" {
  description = "How the proxy routes to the AOL-hosted partner: the reason and the next hops in order."
  value = {
    status    = data.sip_route.aol_partner.status
    reason    = data.sip_route.aol_partner.reason
    next_hops = [for h in data.sip_route.aol_partner.next_hops : "${h.transport}:${h.address}:${h.port} via ${h.host} (${h.step})"]
  }
}
