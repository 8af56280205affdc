# One federated domain per partner, its static routes and the TLS peer subjects of its edges.

locals {
  # Static routes keyed "<domain>/<index>", so that adding a route to one partner leaves the
  # others' addresses alone.
  static_routes = merge([
    for domain, p in var.partners : {
      for i, r in p.static_routes : "${domain}/${i}" => merge(r, {
        domain = domain
        # The reference's pattern for a domain and its subdomains: "domaina.com" -> ".com.domaina.*".
        # Computed here rather than with provider::sip::destination_pattern so that the module
        # also runs on Terraform before 1.8.
        destination_pattern = coalesce(r.destination_pattern, join(".", concat([""], reverse(split(".", lower(domain))), ["*"])))
      })
    }
  ]...)

  # Each subject once, described by the partners that present it.
  tls_subjects = {
    for subject in distinct(flatten([for p in values(var.partners) : p.tls_subjects])) :
    subject => sort([for domain, p in var.partners : domain if contains(p.tls_subjects, subject)])
  }
}

resource "sip_federated_domain" "this" {
  for_each = var.partners

  domain            = each.key
  description       = coalesce(each.value.description, each.key)
  type              = each.value.type
  direct_federation = each.value.direct_federation
}

resource "sip_static_route" "this" {
  for_each = local.static_routes

  destination_pattern = each.value.destination_pattern
  next_hop            = each.value.next_hop
  next_hop_port       = each.value.next_hop_port
  protocol            = each.value.protocol
  priority            = each.value.priority
  weight              = each.value.weight
  description         = coalesce(each.value.description, "Edge of ${each.value.domain}")

  # A route without its domain routes nothing (the proxy refuses non-federated domains), so it is
  # created after and destroyed before the domain.
  depends_on = [sip_federated_domain.this]
}

resource "sip_tls_peer_subject" "this" {
  for_each = local.tls_subjects

  subject     = each.key
  description = substr("Edge of ${join(", ", each.value)}", 0, 255)
}
