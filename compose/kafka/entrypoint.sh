#!/bin/bash
# `broker`: one KRaft node (controller + broker); `connect`: a distributed Connect worker
# (the project's connector on plugin.path, the S3 keys read through the FileConfigProvider,
# as native does: services/stack/connectors.py). Both run the properties `make up` renders
# from the native runtime's (services/stack/configs.py) and mounts under /etc/kafka.
# Every container of the stack shares one network namespace, so 127.0.0.1:<port> means the
# same server inside a container and on the host (the ports are published 1:1): what the
# broker advertises and the connector's store.url work on both sides.
set -euo pipefail
java_opts=(-Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Dlog4j2.configurationFile=/etc/kafka/log4j2.properties)
case "${1:-broker}" in
broker)
  # The broker's properties are the native runtime's (configs.kafka_broker_text), rendered
  # by `make up` and mounted here (docker-compose.yml), so the two runtimes cannot drift.
  conf=/etc/kafka/server.properties
  [ -r "$conf" ] || { echo "$conf is not mounted: start this through make up" >&2; exit 2; }
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
