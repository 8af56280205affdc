# A complete SIP federation setup: the public name of the proxy, a Lync partner found through DNS
# SRV, an AOL-hosted partner reached through a static route, the TLS identities of both partners'
# edges, the SRV records to publish for our own domains, and a check that the static partner stays
# routable after every apply.

resource "sip_federation_routing_fqdn" "this" {
  fqdn = var.federation_routing_fqdn
}

module "partners" {
  source = "../modules/partner"

  partners = {
    (var.lync_partner_domain) = {
      description  = "Lync partner"
      tls_subjects = [var.lync_partner_tls_subject]
    }
    (var.aol_partner_domain) = {
      type        = "aol"
      description = "AOL-hosted partner"
      static_routes = [{
        next_hop      = var.aol_partner_next_hop
        next_hop_port = var.aol_partner_next_hop_port
        protocol      = var.aol_partner_protocol
      }]
      tls_subjects = [var.aol_partner_tls_subject]
    }
  }
}

# What partners need in public DNS to find us: one record per local domain, all pointing at the
# federation routing FQDN. It takes the FQDN from the variable, not from the resource, so the
# records are known when Terraform plans (a for_each over them works on the first apply).
data "sip_federation_srv_records" "publish" {
  federation_routing_fqdn = var.federation_routing_fqdn
}

# How the proxy routes to the AOL-hosted partner. depends_on defers the read until the partners
# are applied whenever they change.
data "sip_route" "aol_partner" {
  uri        = "sip:user@${var.aol_partner_domain}"
  depends_on = [module.partners]
}

# The check reads the data source above rather than a data block scoped to the check: Terraform
# re-reads a scoped data block on every plan, so `terraform plan -detailed-exitcode` would never
# report "no changes", which breaks drift detection jobs. A failed check is a warning; it does not
# block the apply.
check "aol_partner_is_routed_by_its_static_route" {
  assert {
    condition = (
      data.sip_route.aol_partner.status == 0 &&
      length(data.sip_route.aol_partner.next_hops) > 0 &&
      try(data.sip_route.aol_partner.next_hops[0].step, "") == "static"
    )
    error_message = "The proxy does not route ${var.aol_partner_domain} through its static route: ${data.sip_route.aol_partner.reason}"
  }
}
