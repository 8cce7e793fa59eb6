#!/usr/bin/env bash
# Regenerates Sources/KafkaCodec/Generated from Kafka's JSON message schemas. Arguments: schema directories, newest
# first (default: ../shared/kafka-message-schemas-2026-08 then ../shared/kafka-message-schemas, whose October 2024
# schemas still describe the versions Kafka 4.0 removed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
    set -- ../shared/kafka-message-schemas-2026-08 ../shared/kafka-message-schemas
fi
swift run kafka-codec-generator Sources/KafkaCodec/Generated "$@"
