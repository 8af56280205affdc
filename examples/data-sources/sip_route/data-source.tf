# Explain how the proxy routes a request to a partner user.
data "sip_route" "contoso" {
  uri = "sip:alice@contoso.example"
}

output "contoso_route" {
  value = {
    status    = data.sip_route.contoso.status
    reason    = data.sip_route.contoso.reason
    next_hops = [for h in data.sip_route.contoso.next_hops : "${h.transport}:${h.address}:${h.port} (${h.step})"]
  }
}

# Warn after every plan and apply when the partner is not routable. A failed check is a warning:
# it does not block the apply. (A data block scoped to the check would be re-read on every plan,
# so the plan would never be empty; reading the top-level one keeps drift detection quiet.)
check "contoso_is_routable" {
  assert {
    condition     = data.sip_route.contoso.status == 0
    error_message = "The proxy cannot route to contoso.example: ${data.sip_route.contoso.reason}"
  }
}
