data "sip_incoming_acls" "all" {}

output "inbound_allowed_from" {
  value = [for acl in data.sip_incoming_acls.all.incoming_acls : acl.pattern]
}
