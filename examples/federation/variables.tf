variable "federation_routing_fqdn" {
  description = "The public FQDN partners reach the proxy under: the target of the _sipfederationtls._tcp SRV records to publish."
  type        = string
  default     = "sipfed.example.com"
}

variable "lync_partner_domain" {
  description = "A Microsoft Lync/Skype for Business partner that publishes its _sipfederationtls._tcp SRV record: no static route."
  type        = string
  default     = "contoso.example"
}

variable "lync_partner_tls_subject" {
  description = "The identity in the certificate of the Lync partner's Access Edge."
  type        = string
  default     = "sip.contoso.example"
}

variable "aol_partner_domain" {
  description = "A domain hosted by AOL, reached through a static route."
  type        = string
  default     = "hosted-partner.example"
}

variable "aol_partner_next_hop" {
  description = "The edge the AOL-hosted partner is routed to: an IP address or a host name."
  type        = string
  default     = "192.0.2.25"
}

variable "aol_partner_next_hop_port" {
  description = "Port of the AOL-hosted partner's edge."
  type        = number
  default     = 5061
}

variable "aol_partner_protocol" {
  description = "Transport toward the AOL-hosted partner's edge: tls, tcp or udp."
  type        = string
  default     = "tls"
}

variable "aol_partner_tls_subject" {
  description = "The identity in the certificate of the AOL-hosted partner's edge."
  type        = string
  default     = "gateway.hosted-partner.example"
}
