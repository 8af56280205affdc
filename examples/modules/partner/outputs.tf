output "federated_domains" {
  description = "The partner domains, each with its incoming ACL pattern."
  value       = { for d, r in sip_federated_domain.this : d => r.incoming_acl }
}

output "static_route_ids" {
  description = "The ids of the static routes, keyed \"<domain>/<index>\"."
  value       = { for k, r in sip_static_route.this : k => r.id }
}

output "tls_peer_subjects" {
  description = "The TLS peer subjects, sorted."
  value       = sort(keys(sip_tls_peer_subject.this))
}
