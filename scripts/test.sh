#!/usr/bin/env bash
# The project's test command: installs what the tests need, checks that the generated codec is current when
# Kafka's schemas are beside the repository, then builds and runs every test: the Swift suites, then the
# end-to-end suite against a real broker.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

schemas="${KAFKA_SCHEMA_DIR:-../shared/kafka-message-schemas}"
if [ -d "$schemas" ]; then
    echo "test: regenerating the codec from $schemas to compare with Sources/KafkaCodec/Generated"
    fresh=$(mktemp -d)
    trap 'rm -rf "$fresh"' EXIT
    swift run -q kafka-codec-generator "$schemas" "$fresh" >/dev/null
    if ! diff -r "$fresh" Sources/KafkaCodec/Generated >/dev/null; then
        diff -r "$fresh" Sources/KafkaCodec/Generated | head -40
        echo "test: Sources/KafkaCodec/Generated is stale; run scripts/generate-codec.sh" >&2
        exit 1
    fi
else
    echo "test: $schemas not found; the generated-code check is skipped (the build never needs it)"
fi

swift build --build-tests
swift test --skip-build

# End to end: the real proxy binary between a real Tansu broker and real clients.
KAFKASCOPE_BIN="$(swift build --show-bin-path)/kafkascope" python3 -m pytest -q Tests/Integration
