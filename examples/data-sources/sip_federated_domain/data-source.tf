# A partner configured by another team's Terraform configuration.
data "sip_federated_domain" "contoso" {
  domain = "contoso.example"
}

output "contoso_type" {
  value = data.sip_federated_domain.contoso.type
}
