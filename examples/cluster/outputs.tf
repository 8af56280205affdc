output "srv_records" {
  description = "The _sipfederationtls._tcp records to publish, one per local domain, all with the cluster's one target."
  value       = data.sip_federation_srv_records.publish.records
}

output "address_records" {
  description = "The A/AAAA records of the target: every node's public address."
  value       = data.sip_federation_srv_records.publish.address_records
}

# The same, as zone file lines, for a DNS team that takes them that way.
output "zone_file" {
  value = join("\n", concat(
    [for r in data.sip_federation_srv_records.publish.records : "${r.name}. 3600 IN SRV ${r.priority} ${r.weight} ${r.port} ${r.target}."],
    [for a in data.sip_federation_srv_records.publish.address_records : "${a.name}. 3600 IN ${a.type} ${a.address}"],
  ))
}
