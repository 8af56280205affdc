# The routing FQDN is a singleton: its import id is always "federation-routing-fqdn".
terraform import sip_federation_routing_fqdn.this federation-routing-fqdn
