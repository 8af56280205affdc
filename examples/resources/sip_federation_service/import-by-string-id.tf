# The federation service is a singleton: its import id is always "federation-service".
import {
  to = sip_federation_service.this
  id = "federation-service"
}
