# The peer subjects of one partner's edges: contoso.example and every name under it.
data "sip_tls_peer_subjects" "contoso" {
  domain = "contoso.example"
}

output "contoso_subjects" {
  value = data.sip_tls_peer_subjects.contoso.names
}
