terraform {
  required_version = ">= 1.5"

  required_providers {
    sip = {
      source = "sipfed/sip"
    }
  }
}

# Any node of the cluster will do: they share one configuration. SIPFED_ENDPOINT and SIPFED_TOKEN
# (a token of that node's --admin-token-file) may stand in for these.
provider "sip" {
  endpoint = var.endpoint
}
