#!/usr/bin/env bash
# A real Apache Kafka 3.9 broker for the tests, from Maven Central jars (no Docker, no package).
#   scripts/kafka.sh fetch    download the broker jars into .kafka/lib (mvn; cached in ~/.m2)
#   scripts/kafka.sh start    format a fresh single-node KRaft directory, start the broker on
#                             127.0.0.1:9092 and wait until it is really ready
#   scripts/kafka.sh stop     TERM, wait, KILL; remove the broker's state
#   scripts/kafka.sh restart  stop the broker (TERM) and start it again on the same state: topics
#                             and records survive, as after a real broker restart
#   scripts/kafka.sh status   exit 0 when a broker answers on 9092
# Environment: POSTBOX_KAFKA_PORT (9092), POSTBOX_KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (512m).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
home="$root/.kafka"
lib="$home/lib"
state="$home/state"
port="${POSTBOX_KAFKA_PORT:-9092}"
controller_port="${POSTBOX_KAFKA_CONTROLLER_PORT:-9093}"
heap="${KAFKA_HEAP:-512m}"

say() { echo "kafka: $*" >&2; }
die() { say "$*"; exit 1; }

answering() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

fetch() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn is not installed; it fetches the broker jars from Maven Central"
  command -v java >/dev/null || die "java is not installed; the broker needs Java 17"
  say "fetching the broker jars from Maven Central (once; cached in ~/.m2)"
  rm -rf "$lib"
  if ! mvn -q -B -f "$root/scripts/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$lib" >"$home/fetch.log" 2>&1; then
    tail -n 20 "$home/fetch.log" >&2
    die "could not fetch the broker jars (see $home/fetch.log); is Maven Central reachable?"
  fi
  ls "$lib"/kafka_2.13-3.9.*.jar >/dev/null 2>&1 || die "the fetched jars do not include kafka_2.13-3.9.x"
  touch "$lib/.complete"
}

java_run() { java -Xmx"$heap" -Xms64m -XX:+UseSerialGC -cp "$lib/*" "$@"; }

start() {
  mkdir -p "$home"
  if answering; then say "a broker already answers on 127.0.0.1:$port"; return 0; fi
  fetch
  stop_quietly
  mkdir -p "$state/data" "$state/logs"
  cat >"$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$state/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
  local cluster
  cluster="$(java_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [ -n "$cluster" ] || die "could not generate a cluster id (java kafka.tools.StorageTool random-uuid)"
  java_run kafka.tools.StorageTool format -t "$cluster" -c "$state/server.properties" >"$state/logs/format.log" 2>&1 \
    || { cat "$state/logs/format.log" >&2; die "formatting $state/data failed"; }
  say "starting the broker on 127.0.0.1:$port (state in $state)"
  launch
}

# Starts the broker on the prepared state and waits until it is ready.
launch() {
  : >"$state/logs/server.log"
  # setsid: its own session, so the broker outlives whatever started it (a test worker that
  # restarts it mid-run, say) until scripts/kafka.sh stop ends it.
  setsid nohup java -Xmx"$heap" -Xms128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j.configuration="file:$root/scripts/kafka/log4j.properties" -Dkafka.logs.dir="$state/logs" \
    -cp "$lib/*" kafka.Kafka "$state/server.properties" >>"$state/logs/stdout.log" 2>&1 &
  echo $! >"$home/broker.pid"
  for _ in $(seq 1 120); do
    if grep -q "Kafka Server started" "$state/logs/server.log" 2>/dev/null && answering; then
      say "ready (pid $(cat "$home/broker.pid"))"
      return 0
    fi
    if ! kill -0 "$(cat "$home/broker.pid")" 2>/dev/null; then
      tail -n 30 "$state/logs/stdout.log" "$state/logs/server.log" >&2 2>/dev/null || true
      die "the broker exited during start-up (logs in $state/logs)"
    fi
    sleep 0.5
  done
  tail -n 30 "$state/logs/server.log" >&2 2>/dev/null || true
  die "the broker did not become ready within 60 s (logs in $state/logs)"
}

restart() {
  [ -f "$state/server.properties" ] || die "no broker state to restart from; use start"
  terminate
  say "restarting the broker on its existing state"
  launch
}

# TERM, wait up to 20 s, then KILL; keeps the state.
terminate() {
  local pid
  if [ -f "$home/broker.pid" ]; then
    pid="$(cat "$home/broker.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$home/broker.pid"
  fi
}

stop_quietly() {
  terminate
  rm -rf "$state"
}

case "${1:-}" in
  fetch) mkdir -p "$home"; fetch ;;
  start) start ;;
  stop) stop_quietly; say "stopped" ;;
  restart) restart ;;
  status) answering ;;
  *) echo "usage: scripts/kafka.sh fetch|start|stop|restart|status" >&2; exit 2 ;;
esac
