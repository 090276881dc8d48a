#!/bin/bash
# `broker`: one KRaft node (controller + broker), the native runtime's kafka.properties
# (services/stack/configs.py) with the ports from the environment. `connect`: a distributed
# Connect worker with the project's connector on plugin.path and the S3 keys read through
# the FileConfigProvider, as native does (services/stack/connectors.py).
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
  : "${KAFKA_BOOTSTRAP_SERVERS:?}" "${CONNECT_PORT:?}" "${CONNECT_SECRETS_DIR:?}"
  conf=/var/lib/kafka/connect.properties
  cat >"$conf" <<PROPS
bootstrap.servers=${KAFKA_BOOTSTRAP_SERVERS}
group.id=pipeline-connect
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false
config.storage.topic=_connect-configs
offset.storage.topic=_connect-offsets
status.storage.topic=_connect-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=2000
listeners=http://0.0.0.0:${CONNECT_PORT}
rest.advertised.host.name=127.0.0.1
rest.advertised.port=${CONNECT_PORT}
plugin.path=/opt/connect/plugins
# The secrets folder is mounted at the host's path: a connector config's
# \${file:<path>:<key>} reference means the same file under both runtimes.
config.providers=file
config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
config.providers.file.param.allowed.paths=${CONNECT_SECRETS_DIR}
PROPS
  exec java -Xmx512m "${java_opts[@]}" -cp '/opt/kafka/libs/*' \
    org.apache.kafka.connect.cli.ConnectDistributed "$conf"
  ;;
*) exec "$@" ;;
esac
