#!/bin/sh
# Start digitnet's proxy: render nginx.conf from the settings and run nginx, so that it follows
# the addresses behind the service's name (`docker compose up --scale service=N`, a replica
# restarted): new replicas get traffic and removed ones none.
#
# nginx 1.27.3 and later (the official image) look the name up again every PROXY_RESOLVE_SECONDS
# themselves (`resolve`), keeping their connections. Older ones (Debian bookworm's 1.22) read an
# upstream's addresses only when they load their configuration: for them this script asks
# Docker's DNS every PROXY_RESOLVE_SECONDS and reloads nginx gracefully when a new answer holds.
# A reload finishes in-flight requests on the old workers, but they close their idle keep-alive
# connections: a client's next request racing that close gets the connection closed without an
# answer (HTTP allows it; digitnet's client sends a prediction again). A variable in proxy_pass
# would re-resolve without reloads but gives up keep-alive connections to the upstream.
#
# Settings (environment):
#   PROXY_UPSTREAM         the service's host:port (service:8000)
#   MAX_CONTENT_LENGTH     largest request body in bytes, as the service's (default: shared/limits.py's)
#   PROXY_RATE             requests per second per client address (100)
#   PROXY_BURST            requests over that rate let through at once before 429s (200; 0: none)
#   PROXY_CONNECTIONS      requests at once per client address (64)
#   PROXY_RESOLVE_SECONDS  how often the service's addresses are looked up (2)
set -eu

PROXY_UPSTREAM=${PROXY_UPSTREAM:-service:8000}
MAX_CONTENT_LENGTH=${MAX_CONTENT_LENGTH:-16777216}
PROXY_RATE=${PROXY_RATE:-100}
PROXY_BURST=${PROXY_BURST:-200}
PROXY_CONNECTIONS=${PROXY_CONNECTIONS:-64}
PROXY_RESOLVE_SECONDS=${PROXY_RESOLVE_SECONDS:-2}
TEMPLATE=/etc/digitnet/nginx.conf.template
CONFIG=/tmp/nginx/nginx.conf

log() {  # one JSON line, as nginx's access log and the service's log
  printf '{"time":"%s","level":"%s","logger":"digitnet.proxy","message":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$1" "$(printf '%s' "$2" | sed 's/[\\"]/\\&/g')"
}

for name in MAX_CONTENT_LENGTH PROXY_RATE PROXY_BURST PROXY_CONNECTIONS PROXY_RESOLVE_SECONDS; do
  eval "value=\$$name"
  least=1
  [ "$name" = PROXY_BURST ] && least=0  # no burst at all
  case $value in
    '' | *[!0-9]*) log ERROR "$name=$value must be a whole number"; exit 2 ;;
  esac
  [ "$value" -ge "$least" ] || { log ERROR "$name=$value must be at least $least"; exit 2; }
done
[ "$PROXY_CONNECTIONS" -lt 65536 ] || { log ERROR "PROXY_CONNECTIONS=$PROXY_CONNECTIONS must be under 65536"; exit 2; }
case $PROXY_UPSTREAM in
  *[!A-Za-z0-9.:_-]* | *:*:* | :* | *:) log ERROR "PROXY_UPSTREAM=$PROXY_UPSTREAM must be host:port"; exit 2 ;;
  *:*) ;;
  *) log ERROR "PROXY_UPSTREAM=$PROXY_UPSTREAM must be host:port"; exit 2 ;;
esac

addresses() {  # the upstream host's IPv4 addresses, sorted, on one line ("" when unknown)
  getent ahostsv4 "${PROXY_UPSTREAM%:*}" | awk '{ print $1 }' | sort -u | paste -sd ' ' -
}

at_least() {  # version $1 >= version $2, both as digits and dots
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -t . -k 1,1n -k 2,2n -k 3,3n | head -n 1)" = "$2" ]
}

nginx_version=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
RESOLVE=""
at_least "${nginx_version:-0}" 1.27.3 && RESOLVE=resolve
# nginx's resolver is the container's own (Docker's embedded DNS), in brackets when IPv6.
NAMESERVER=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null)
case ${NAMESERVER:=127.0.0.11} in *:*) NAMESERVER="[$NAMESERVER]" ;; esac

mkdir -p /tmp/nginx
sed -e "s/@PROXY_UPSTREAM@/$PROXY_UPSTREAM/g" \
    -e "s/@RESOLVE@/$RESOLVE/g" \
    -e "s/@NAMESERVER@/$NAMESERVER/g" \
    -e "s/@PROXY_RESOLVE_SECONDS@/$PROXY_RESOLVE_SECONDS/g" \
    -e "s/@MAX_CONTENT_LENGTH@/$MAX_CONTENT_LENGTH/g" \
    -e "s/@PROXY_RATE@/$PROXY_RATE/g" \
    -e "s/@PROXY_BURST@/$PROXY_BURST/g" \
    -e "s/@PROXY_CONNECTIONS@/$PROXY_CONNECTIONS/g" \
    "$TEMPLATE" >"$CONFIG"

current=$(addresses)
if [ -n "$RESOLVE" ]; then
  log INFO "upstream $PROXY_UPSTREAM at ${current:-(not resolved)}, looked up by nginx $nginx_version every ${PROXY_RESOLVE_SECONDS} s"
  exec nginx -e stderr -c "$CONFIG" -g 'daemon off;'
fi
log INFO "upstream $PROXY_UPSTREAM at ${current:-(not resolved)}, looked up every ${PROXY_RESOLVE_SECONDS} s: nginx $nginx_version is reloaded when it changes"
# -e: nginx's early messages go to stderr, not to a log file of the read-only filesystem.
nginx -e stderr -c "$CONFIG" -g 'daemon off;' &
nginx_pid=$!
# docker stop sends SIGQUIT (the image's STOPSIGNAL): nginx's graceful shutdown.
trap 'kill -QUIT "$nginx_pid" 2>/dev/null || true' QUIT TERM
trap 'kill -TERM "$nginx_pid" 2>/dev/null || true' INT

# A reload waits for the same new answer twice in a row: a replica restarted in place leaves
# Docker's DNS for a moment only, and each reload costs the races described above.
previous=$current
while kill -0 "$nginx_pid" 2>/dev/null; do
  sleep "$PROXY_RESOLVE_SECONDS" &
  wait $! || true  # returns at once when a signal is trapped
  seen=$(addresses)
  settled=$previous
  previous=$seen
  if [ -n "$seen" ] && [ "$seen" != "$current" ] && [ "$seen" = "$settled" ]; then
    log INFO "upstream $PROXY_UPSTREAM moved from ${current:-(not resolved)} to $seen: reloading"
    if nginx -e stderr -c "$CONFIG" -s reload; then
      current=$seen
    fi
  fi
done
status=0
wait "$nginx_pid" || status=$?
exit "$status"
