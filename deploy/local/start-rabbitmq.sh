#!/usr/bin/env bash
# Starts the machine's RabbitMQ with as many file handles as the hard limit allows, unless it
# runs already, and enables its management plugin (HTTP API on 15672), through which
# `lre-senders add` makes each sender system's broker user. Safe to run again.
# Quorum queues hold file handles (about 240 for one running platform), and the broker's
# default soft limit of 1024 leaves too few for a platform and the tests side by side.
# `rabbitmq-server` switches to its user through `su`, whose PAM session puts the soft limit
# back to 1024; setpriv switches user without a session and keeps the raised limit.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# File handles the broker may use, as it says itself (0: it cannot say).
handle_limit() {
  rabbitmqctl -q eval 'file_handle_cache:info().' 2>/dev/null \
    | sed -n 's/.*{total_limit,\([0-9]*\)}.*/\1/p' | head -n 1 | grep . || echo 0
}

if listening 5672 && [ "$(id -u)" = 0 ]; then
  # Running with the default soft limit (927 handles for files, when it was started through
  # `su`): too few for the platform and the tests; restart it with the hard limit (below).
  limit="$(handle_limit)"
  if [ "$limit" -gt 0 ] && [ "$limit" -lt 4096 ]; then
    echo "RabbitMQ runs with $limit file handles: restarting it with the hard limit" >&2
    rabbitmqctl -q stop >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do listening 5672 || break; sleep 1; done
  fi
fi

if listening 5672; then
  # Running: the plugin is enabled on the running node, without a restart.
  if ! listening 15672; then
    rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null \
      || echo "could not enable rabbitmq_management (run as root?): lre-senders needs it" >&2
    for _ in $(seq 1 60); do listening 15672 && break; sleep 1; done
  fi
  exit 0
fi

# Stopped: enabled offline (written to the enabled plugins file), loaded at start.
rabbitmq-plugins enable --offline --quiet rabbitmq_management >/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 \
  && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  cd /var/lib/rabbitmq
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq \
    /usr/lib/rabbitmq/bin/rabbitmq-server -detached
fi
exec rabbitmq-server -detached
