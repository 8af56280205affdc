# shellcheck shell=bash
# bench/lib/sipfed.sh: how the benchmarks run and configure sipfed-proxy. Sourced by bench/run.sh
# and bench/compare.sh; bench/kamailio/kamailio.cfg mirrors this, item by item.
#
#   internal listeners udp and tcp 127.0.0.1:5060, external (mutual TLS) 127.0.0.1:5061
#   local domain example.com, node (and routing) FQDN imp1.example.com
#   internal next hop sip:127.0.0.1:5090;transport=tls (tlsload uas)
#   federated domains partner-udp.example, partner-tcp.example, partner.example
#   static routes .example.partner-udp.* -> 127.0.0.1:5080 udp, .example.partner-tcp.* -> 5081 tcp
#   TLS peer subject edge.partner.example (the partner certificate of `tlsload pki`)

SIPFED_ADMIN=127.0.0.1:7080

# sipfed_args DATA_DIR PKI_DIR: sets SIPFED_ARGS, the arguments of sipfed-proxy.
sipfed_args() {
	# shellcheck disable=SC2034 # for the caller
	SIPFED_ARGS=(serve --data-dir "$1" --admin-addr "$SIPFED_ADMIN"
		--sip-internal udp://127.0.0.1:5060 --sip-internal tcp://127.0.0.1:5060
		--sip-external tls://127.0.0.1:5061
		--local-domain example.com --node-fqdn imp1.example.com
		--internal-next-hop 'sip:127.0.0.1:5090;transport=tls'
		--tls-cert "$2/proxy.crt" --tls-key "$2/proxy.key" --tls-ca "$2/ca.crt"
		--log-level warn)
	# SIPFED_FLAGS: more flags, for experiments (word-split), e.g. "--overload-udp-queue-delay 40ms".
	# shellcheck disable=SC2206
	[ -n "${SIPFED_FLAGS:-}" ] && SIPFED_ARGS+=(${SIPFED_FLAGS})
	return 0
}

# sipfed_configure TOKEN: waits until the proxy is ready, then configures it through its admin API.
sipfed_configure() {
	local token=$1 i
	for i in $(seq 100); do
		curl -fsS -o /dev/null "http://$SIPFED_ADMIN/readyz" 2>/dev/null && break
		[ "$i" = 100 ] && { echo "bench: sipfed-proxy did not get ready" >&2; return 1; }
		sleep 0.1
	done
	_sipfed_api "$token" /v1/federated-domains '{"domain":"partner-udp.example"}'
	_sipfed_api "$token" /v1/federated-domains '{"domain":"partner-tcp.example"}'
	_sipfed_api "$token" /v1/federated-domains '{"domain":"partner.example"}'
	_sipfed_api "$token" /v1/static-routes '{"destination_pattern":".example.partner-udp.*","next_hop":"127.0.0.1","next_hop_port":5080,"protocol":"udp"}'
	_sipfed_api "$token" /v1/static-routes '{"destination_pattern":".example.partner-tcp.*","next_hop":"127.0.0.1","next_hop_port":5081,"protocol":"tcp"}'
	_sipfed_api "$token" /v1/tls-peer-subjects '{"subject":"edge.partner.example"}'
}

_sipfed_api() { curl -fsS -o /dev/null -H "Authorization: Bearer $1" -X POST "http://$SIPFED_ADMIN$2" -d "$3"; }
