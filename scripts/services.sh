#!/usr/bin/env bash
# Makes sure the services the integration tests need are up on loopback; starts the ones that
# are down (with the same commands that start them on a fresh machine) and waits until they answer.
# Usage: scripts/services.sh [postgres] [rabbitmq] [redis]   (no argument: all)
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(postgres rabbitmq redis)

wait_until() { # seconds description command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "services: $what did not come up within ${seconds}s" >&2
  return 1
}

postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  fi
  wait_until 60 PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
  echo "services: PostgreSQL up"
}

rabbitmq() {
  if ! rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; then
    if ! rabbitmqctl -q status >/dev/null 2>&1; then
      echo "services: starting RabbitMQ"
      rabbitmq-server -detached
    fi
    wait_until 120 RabbitMQ rabbitmqctl -q await_startup
    wait_until 60 "RabbitMQ listener" rabbitmq-diagnostics -q check_port_connectivity
  fi
  echo "services: RabbitMQ up"
}
redis() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  fi
  wait_until 30 Redis redis-cli -h 127.0.0.1 -p 6379 ping
  echo "services: Redis up"
}

for service in "${want[@]}"; do "$service"; done
