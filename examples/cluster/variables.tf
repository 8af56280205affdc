variable "endpoint" {
  description = "The admin API of any node of the cluster."
  type        = string
  default     = "http://127.0.0.1:7181"
}

variable "federation_routing_fqdn" {
  description = "The cluster's public name: the one target of every _sipfederationtls SRV record, with every node's public address as its A/AAAA records."
  type        = string
  default     = "sipfed.example.com"
}
