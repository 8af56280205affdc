# The federation service is a singleton: its import id is always "federation-service".
terraform import sip_federation_service.this federation-service
