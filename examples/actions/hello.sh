#!/bin/sh
# A native action: the parameters arrive as JSON in $1 (and on stdin); the last line of
# stdout is the result, everything else is logged. __OW_ACTIVATION_ID and friends are set.
echo "activation $__OW_ACTIVATION_ID got $1"
echo '{"greeting": "Hello from sh!"}'
