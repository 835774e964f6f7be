#!/usr/bin/env bash
# Start OELLM Arena in a container (the Dockerfile's CMD; a Hugging Face Docker Space).
#
#   ARENA_SPACE_MODE   demo (default): supervisor, stand-in engines and web app, no GPU
#                      serve: the web app against remote engines, configured by
#                      ARENA_SUPERVISOR__REMOTE_ENDPOINTS or ARENA_SUPERVISOR__URL,
#                      and ARENA_SECRET_KEY (a Space secret: it signs the sessions)
#   PORT               listen port (default 7860, the Space's app_port)
#   ARENA_ALLOW_WEBSOCKET_ORIGIN
#                      public host[:port] list, comma-separated, the browser connects
#                      from (default: SPACE_HOST, which Spaces set to <owner>-<space>.hf.space)
#
# Extra arguments are passed on to oellm-arena (e.g. --help).
set -euo pipefail

readonly PROG="start.sh"
mode=${ARENA_SPACE_MODE:-demo}
port=${PORT:-7860}

case "$mode" in
  demo | serve) ;;
  *)
    echo "$PROG: error: ARENA_SPACE_MODE must be demo or serve, not '$mode'" >&2
    exit 2
    ;;
esac
if ! [[ "$port" =~ ^[1-9][0-9]{0,4}$ ]]; then
  echo "$PROG: error: PORT must be a TCP port, not '$port'" >&2
  exit 2
fi

args=("$mode" --host 0.0.0.0 --port "$port")
IFS=',' read -r -a origins <<<"${ARENA_ALLOW_WEBSOCKET_ORIGIN:-${SPACE_HOST:-}}"
for origin in "${origins[@]}"; do
  origin=${origin// /}
  if [ -n "$origin" ]; then
    args+=(--allow-websocket-origin "$origin")
  fi
done

exec oellm-arena "${args[@]}" "$@"
