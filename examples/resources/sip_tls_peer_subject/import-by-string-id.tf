terraform {
  # import blocks with for_each.
  required_version = ">= 1.7"
}

# The import id is the subject.
import {
  to = sip_tls_peer_subject.contoso_edge
  id = "sip.contoso.example"
}

# Terraform 1.7 or later: every peer subject of one partner, found by the data source.
data "sip_tls_peer_subjects" "contoso" {
  domain = "contoso.example"
}

import {
  for_each = toset(data.sip_tls_peer_subjects.contoso.names)
  to       = sip_tls_peer_subject.contoso[each.key]
  id       = each.key
}

resource "sip_tls_peer_subject" "contoso" {
  for_each = toset(data.sip_tls_peer_subjects.contoso.names)
  subject  = each.key
}
