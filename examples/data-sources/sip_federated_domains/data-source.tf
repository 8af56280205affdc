data "sip_federated_domains" "all" {}

data "sip_federated_domains" "aol" {
  type = "aol"
}

output "federated_domains" {
  value = data.sip_federated_domains.all.names
}

output "aol_hosted_domains" {
  value = data.sip_federated_domains.aol.names
}
