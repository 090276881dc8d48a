#!/bin/bash
# `broker`: one KRaft node (controller + broker), the native runtime's kafka.properties
# (services/stack/configs.py) with the ports from the environment. `connect`: a distributed
# Connect worker with the properties `make up` renders from configs.connect_worker_text
# (the project's connector on plugin.path, the S3 keys read through the FileConfigProvider,
# as native does: services/stack/connectors.py).
# Every container of the stack shares one network namespace, so 127.0.0.1:<port> means the
# same server inside a container and on the host (the ports are published 1:1): what the
# broker advertises and the connector's store.url work on both sides.
set -euo pipefail
java_opts=(-Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Dlog4j2.configurationFile=/etc/kafka/log4j2.properties)
case "${1:-broker}" in
broker)
  : "${KAFKA_PORT:?}" "${KAFKA_CONTROLLER_PORT:?}" "${KAFKA_TOPIC_PARTITIONS:?}"
  conf=/var/lib/kafka/server.properties
  cat >"$conf" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:${KAFKA_CONTROLLER_PORT}
# 0.0.0.0: the published port reaches the container on its own address, not loopback.
listeners=PLAINTEXT://0.0.0.0:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=/var/lib/kafka/data
num.partitions=${KAFKA_TOPIC_PARTITIONS}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=134217728
PROPS
  if [ ! -f /var/lib/kafka/data/meta.properties ]; then
    id=$(java -cp '/opt/kafka/libs/*' kafka.tools.StorageTool random-uuid)
    java -cp '/opt/kafka/libs/*' "${java_opts[@]}" kafka.tools.StorageTool format \
      --standalone --ignore-formatted -t "$id" -c "$conf"
  fi
  exec java -Xmx768m "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
  ;;
connect)
  # The worker's properties are the native runtime's (configs.connect_worker_text), rendered
  # by `make up` and mounted here (docker-compose.yml), so the two runtimes cannot drift.
  conf=/etc/kafka/connect.properties
  [ -r "$conf" ] || { echo "$conf is not mounted: start this through make up" >&2; exit 2; }
  exec java -Xmx512m "${java_opts[@]}" -cp '/opt/kafka/libs/*' \
    org.apache.kafka.connect.cli.ConnectDistributed "$conf"
  ;;
*) exec "$@" ;;
esac
