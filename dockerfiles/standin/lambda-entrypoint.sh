#!/bin/sh
# Behaves as the published provided:al2 base's /lambda-entrypoint.sh is documented to:
# one argument (the handler), exported as _HANDLER; without AWS_LAMBDA_RUNTIME_API the
# Runtime Interface Emulator starts the runtime, otherwise the runtime runs directly.

if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
else
  exec $RUNTIME_ENTRYPOINT
fi
