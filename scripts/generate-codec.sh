#!/usr/bin/env bash
# Regenerates Sources/KafkaCodec/Generated from Kafka's JSON message schemas (default: ../shared/kafka-message-schemas).
set -euo pipefail
cd "$(dirname "$0")/.."
swift run kafka-codec-generator "${1:-../shared/kafka-message-schemas}" Sources/KafkaCodec/Generated
