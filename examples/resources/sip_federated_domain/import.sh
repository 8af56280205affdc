# The import id is the domain.
terraform import sip_federated_domain.contoso contoso.example
