#!/usr/bin/env bash
# The project's test command: installs what the tests need, checks that the generated codec is current when
# Kafka's schemas are beside the repository, then builds and runs every test: the Swift suites, then the
# end-to-end suite against a real broker.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# Newest snapshot first; KAFKA_SCHEMA_DIRS overrides both (space-separated).
read -r -a schemas <<<"${KAFKA_SCHEMA_DIRS:-../shared/kafka-message-schemas-2026-08 ../shared/kafka-message-schemas}"
missing=0
for dir in "${schemas[@]}"; do [ -d "$dir" ] || missing=1; done
if [ "$missing" -eq 0 ]; then
    echo "test: regenerating the codec from ${schemas[*]} to compare with Sources/KafkaCodec/Generated"
    fresh=$(mktemp -d)
    trap 'rm -rf "$fresh"' EXIT
    swift run -q kafka-codec-generator "$fresh" "${schemas[@]}" >/dev/null
    if ! diff -r "$fresh" Sources/KafkaCodec/Generated >/dev/null; then
        diff -r "$fresh" Sources/KafkaCodec/Generated | head -40
        echo "test: Sources/KafkaCodec/Generated is stale; run scripts/generate-codec.sh" >&2
        exit 1
    fi
else
    echo "test: ${schemas[*]} not all found; the generated-code check is skipped (the build never needs them)"
fi

swift build --build-tests
swift test --skip-build

# End to end: the real proxy binary between a real Tansu broker and real clients, the soak's CI variant included.
KAFKASCOPE_BIN="$(swift build --show-bin-path)/kafkascope" python3 -m pytest -q Tests/Integration

# Fuzz smoke: the three libFuzzer targets still build and run. The long runs are recorded in docs/reliability.md.
# The build reuses .build, so only the Swift modules are compiled again, with libFuzzer's instrumentation.
echo "test: fuzz smoke"
swift build --product KafkaCodecFuzzer -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
swift build --product KafkaProxyFuzzer -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
swift build --product KafkaCaptureFuzzer -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
bin="$(swift build --show-bin-path)"
smoke=$(mktemp -d)
mkdir -p "$smoke/codec" "$smoke/proxy" "$smoke/capture"
cp Fuzz/Corpus/proxy/* "$smoke/proxy/"
cp Fuzz/Corpus/capture/* "$smoke/capture/"
"$bin/KafkaCodecFuzzer" "$smoke/codec" -max_total_time=20 -print_final_stats=1
"$bin/KafkaProxyFuzzer" "$smoke/proxy" -max_total_time=30 -print_final_stats=1
"$bin/KafkaCaptureFuzzer" "$smoke/capture" -max_total_time=30 -max_len=8192 -print_final_stats=1
rm -rf "$smoke"
echo "test: fuzz smoke passed"
