terraform {
  required_providers {
    sip = {
      source = "sipfed/sip"
    }
  }
}

# The endpoint and token usually come from the environment, so that no secret is in the
# configuration:
#
#   export SIPFED_ENDPOINT=http://127.0.0.1:7080
#   export SIPFED_TOKEN=$(cut -d: -f2 /etc/sipfed/admin.tokens)
provider "sip" {}
