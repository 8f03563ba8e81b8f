#!/bin/sh
# Prints what the entrypoint handed over, then exits: proves the direct (non-RIE) path.
echo "bootstrap ran: _HANDLER=${_HANDLER} AWS_LAMBDA_RUNTIME_API=${AWS_LAMBDA_RUNTIME_API} pid=$$"
