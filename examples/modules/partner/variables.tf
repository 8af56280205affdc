variable "partners" {
  description = <<-EOT
    Federation partners, keyed by their domain (lower case). For each:
    - type: "lync" (default; routed by static route, then DNS SRV) or "aol" (hosted by or federating
      through AOL; falls back to the default federation routing domain).
    - description: shown to users; default: the domain.
    - direct_federation: present the node FQDN rather than the federation routing FQDN.
    - static_routes: edges to route to when the partner cannot be found through DNS SRV; each matches
      the domain and its subdomains unless destination_pattern is given. Leave empty to rely on SRV.
    - tls_subjects: certificate identities of the partner's edges (e.g. its Access Edge FQDN). A
      subject shared by several partners (a clearing house) is created once.
  EOT
  type = map(object({
    type              = optional(string, "lync")
    description       = optional(string)
    direct_federation = optional(bool, false)
    static_routes = optional(list(object({
      next_hop            = string
      next_hop_port       = optional(number, 5061)
      protocol            = optional(string, "tls")
      priority            = optional(number, 1)
      weight              = optional(number, 10)
      destination_pattern = optional(string)
      description         = optional(string, "")
    })), [])
    tls_subjects = optional(list(string), [])
  }))

  validation {
    condition     = alltrue([for d, p in var.partners : contains(["lync", "aol"], p.type)])
    error_message = "Each partner's type must be \"lync\" or \"aol\"."
  }
}
