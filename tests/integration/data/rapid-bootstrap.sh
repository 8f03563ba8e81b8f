#!/bin/sh
# A minimal custom runtime in busybox sh, to prove the stand-in base wires the RIE to
# /var/runtime/bootstrap: it answers every event with the handler name and the event.
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  headers=/tmp/headers
  event=$(wget -q -S -O - "$api/next" 2>"$headers")
  id=$(sed -n 's/^ *Lambda-Runtime-Aws-Request-Id: *//ip' "$headers" | tr -d '\r')
  wget -q -O /dev/null --header 'Content-Type: application/json' \
    --post-data "{\"handler\":\"${_HANDLER}\",\"event\":${event}}" "$api/$id/response"
done
