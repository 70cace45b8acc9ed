#!/usr/bin/env bash
# Starts the machine's RabbitMQ with as many file handles as the hard limit allows.
# Quorum queues hold file handles (about 240 for one running platform), and the broker's
# default soft limit of 1024 leaves too few for a platform and the tests side by side.
# `rabbitmq-server` switches to its user through `su`, whose PAM session puts the soft limit
# back to 1024; setpriv switches user without a session and keeps the raised limit.
set -euo pipefail
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 \
  && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  cd /var/lib/rabbitmq
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq \
    /usr/lib/rabbitmq/bin/rabbitmq-server -detached
fi
exec rabbitmq-server -detached
