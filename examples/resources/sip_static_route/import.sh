# The import id is the id the proxy assigned to the route; the sip_static_routes data source lists
# them, as does GET /v1/static-routes.
terraform import sip_static_route.fabrikam 3f2a9c01b7de
