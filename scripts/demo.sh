#!/usr/bin/env bash
# demo.sh: a whole hybrid deployment on this machine (what `make demo` runs).
#
# A Cloud Gate on https://127.0.0.1:9443, installation details (Cloud Token +
# license) for one gateway, an echo backend on 127.0.0.1:18080, the sample
# keyless API at /demo, and the gateway on :8082. State lives in ./.demo/;
# running it again reuses it. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=${DEMO_DIR:-.demo}
GATE_ADDR=${GATE_ADDR:-127.0.0.1:9443}
ORG=demo ENV=dev
BIN=./bin
mkdir -p "$DEMO"/{cloudgate,gateway,edgegate,logs}

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping..."
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: stopped; state kept in $DEMO/ (remove it to start over)"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

wait_for() { # wait_for WHAT CMD...: retries CMD for 20 s
  local what=$1; shift
  for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo: $what did not come up; see $DEMO/logs/" >&2
  exit 1
}

gate() { "$BIN/cloudgate" "$@" --server "https://$GATE_ADDR" --admin-token-file "$DEMO/cloudgate/admin-token"; }

echo "demo: starting the Cloud Gate on https://$GATE_ADDR (log: $DEMO/logs/cloudgate.log)"
"$BIN/cloudgate" serve --data-dir "$DEMO/cloudgate" --listen "$GATE_ADDR" --geo local >"$DEMO/logs/cloudgate.log" 2>&1 &
pids+=($!)
wait_for "the Cloud Gate" curl -fsS --cacert "$DEMO/cloudgate/ca.pem" "https://$GATE_ADDR/healthz"

gate env create --org "$ORG" --env "$ENV"

# Installation details are made once; a new gate data dir makes them anew.
if [ ! -s "$DEMO/gateway/cloud-token" ] || [ "$DEMO/cloudgate/admin-token" -nt "$DEMO/gateway/cloud-token" ]; then
  gate gateway create --org "$ORG" --env "$ENV" --access-point "http://localhost:8082" --out "$DEMO/gateway"
fi

echo "demo: starting the echo backend on http://127.0.0.1:18080 (log: $DEMO/logs/echo.log)"
"$BIN/edgegate-echo" --listen 127.0.0.1:18080 >"$DEMO/logs/echo.log" 2>&1 &
pids+=($!)

api=$(gate api import --org "$ORG" --env "$ENV" examples/apis/demo.json)
gate api deploy --org "$ORG" --env "$ENV" "$api" >/dev/null

echo "demo: starting the gateway on :8082 (log: $DEMO/logs/edgegate.log)"
"$BIN/edgegate" run --cloud-token-file "$DEMO/gateway/cloud-token" --license-file "$DEMO/gateway/license.key" \
  --data-dir "$DEMO/edgegate" --listen :8082 --admin-listen 127.0.0.1:18082 >"$DEMO/logs/edgegate.log" 2>&1 &
pids+=($!)
wait_for "the gateway" curl -fsS http://127.0.0.1:18082/_node/ready

admin=$(cat "$DEMO/cloudgate/admin-token")
cat <<MSG

edgegate demo is running. Try:

  curl -i http://localhost:8082/demo/hello          # proxied to the echo backend
  curl -i http://localhost:8082/nothing             # 404 No context-path matches the request URI.
  curl -s http://127.0.0.1:18082/_node/sync         # where the configuration came from
  curl -s http://127.0.0.1:18082/_node/reports      # the report spool
  $BIN/cloudgate analytics count --org $ORG --admin-token-file $DEMO/cloudgate/admin-token

Installation details (Cloud Token and license) were written to:
  $DEMO/gateway/cloud-token
  $DEMO/gateway/license.key
The console: https://$GATE_ADDR/console/  (CA: $DEMO/cloudgate/ca.pem, admin credential: $admin)

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "demo: a process exited; see $DEMO/logs/" >&2
