terraform {
  # check blocks.
  required_version = ">= 1.5"

  required_providers {
    sip = {
      source = "sipfed/sip"
    }
  }
}

# The admin API's endpoint and token come from SIPFED_ENDPOINT and SIPFED_TOKEN.
provider "sip" {}
