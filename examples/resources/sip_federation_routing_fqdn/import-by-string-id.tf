# The routing FQDN is a singleton: its import id is always "federation-routing-fqdn".
import {
  to = sip_federation_routing_fqdn.this
  id = "federation-routing-fqdn"
}
