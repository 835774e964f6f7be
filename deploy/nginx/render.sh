#!/usr/bin/env bash
# Render the OELLM Arena nginx site from oellmarena.conf.template and the environment.
#
#   DOMAIN=arena.example.org \
#   SSL_CERTIFICATE=/etc/letsencrypt/live/arena.example.org/fullchain.pem \
#   SSL_CERTIFICATE_KEY=/etc/letsencrypt/live/arena.example.org/privkey.pem \
#   HTTP_PORT=80 HTTPS_PORT=443 UPSTREAM=127.0.0.1:5006 PREFIX=/oellmarena \
#     deploy/nginx/render.sh [OUTPUT]
#
# Writes OUTPUT (atomically) or stdout. Only these seven variables are substituted, so
# nginx's own ($host, $request_uri, ...) survive. Every one is required and checked, since a
# value with a space or a ';' would change the meaning of the nginx config.
# Exit status: 0 rendered, 2 a variable is missing or malformed, 3 envsubst is missing.
set -euo pipefail

readonly PROG="render.sh"
readonly VARS=(DOMAIN SSL_CERTIFICATE SSL_CERTIFICATE_KEY HTTP_PORT HTTPS_PORT UPSTREAM PREFIX)
template="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/oellmarena.conf.template"

die() {  # die STATUS MESSAGE...
  local status=$1
  shift
  echo "$PROG: error: $*" >&2
  exit "$status"
}

case "${1:-}" in
  -h | --help)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
[ "$#" -le 1 ] || die 2 "at most one argument (the output file), got $#"

missing=()
for var in "${VARS[@]}"; do
  [ -n "${!var:-}" ] || missing+=("$var")
done
if [ "${#missing[@]}" -gt 0 ]; then
  die 2 "missing ${missing[*]}: set all of ${VARS[*]} (see docs/deploy.md)"
fi

check() {  # check VAR REGEX WHAT
  [[ "${!1}" =~ $2 ]] || die 2 "$1='${!1}' is not $3"
}
check DOMAIN '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$' "a host name (no scheme, port or path)"
check SSL_CERTIFICATE '^/[A-Za-z0-9._/@+-]+$' "an absolute file path"
check SSL_CERTIFICATE_KEY '^/[A-Za-z0-9._/@+-]+$' "an absolute file path"
for port_var in HTTP_PORT HTTPS_PORT; do
  check "$port_var" '^[1-9][0-9]{0,4}$' "a TCP port"
  [ "${!port_var}" -le 65535 ] || die 2 "$port_var='${!port_var}' is not a TCP port"
done
[ "$HTTP_PORT" != "$HTTPS_PORT" ] || die 2 "HTTP_PORT and HTTPS_PORT must differ"
check UPSTREAM '^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[1-9][0-9]{0,4}$' "host:port of the Panel server"
check PREFIX '^(/[A-Za-z0-9._~-]+)+$' "a sub-path like /oellmarena (leading slash, none at the end)"

command -v envsubst >/dev/null 2>&1 ||
  die 3 "envsubst not found: install it (Debian: apt-get install gettext-base)"
[ -r "$template" ] || die 2 "template not found: $template"

export "${VARS[@]}"
shell_format=""
for var in "${VARS[@]}"; do
  shell_format+="\${$var} "
done
if [ "$#" -eq 0 ]; then
  envsubst "$shell_format" <"$template"
  exit 0
fi
out=$1
tmp=$(mktemp "$(dirname "$out")/.$(basename "$out").XXXXXX")
trap 'rm -f "$tmp"' EXIT
envsubst "$shell_format" <"$template" >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "$PROG: wrote $out" >&2
