# The import id is the subject.
terraform import sip_tls_peer_subject.contoso_edge sip.contoso.example
