# The import id is the id the proxy assigned to the route; list them with
#   curl -H "Authorization: Bearer $SIPFED_TOKEN" "$SIPFED_ENDPOINT/v1/static-routes"
terraform import sip_static_route.fabrikam 3f2a9c01b7de
