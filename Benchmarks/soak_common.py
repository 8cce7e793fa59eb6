"""What every part of the soak (Benchmarks/soak.py) shares: the paths (and Tests/Integration on sys.path, for
harness, relays and workloads), bench_support, the fault and client names, and SoakError."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "Tests" / "Integration"))

import bench_support as bs  # noqa: E402

CLIENTS = str(HERE / "soak_clients.py")
FAULTS = ("proxy-restart", "relay", "consumer-kill", "hostile", "consumer-stall", "broker-restart")
TIMED = [f for f in FAULTS if f != "relay"]
CLIENT_KINDS = {"ck": "confluent-kafka", "kp": "kafka-python"}
MB = 1 << 20


class SoakError(bs.BenchError):
    """The soak cannot go on (a component missing or failing, or the proxy crashed); the message says why."""
