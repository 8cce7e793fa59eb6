"""The soak's second source (Benchmarks/soak.py): when the group missed acknowledged records, which of them does the
broker itself serve? A plain consumer reads the whole topic straight from Tansu, past the proxy and the fault
relay, and looks for them by content.

A missed record the broker serves this way was lost on the way through the proxy (or by the group). One it does not
serve was acknowledged and then never stored, or never served, by the broker: the proxy forwards request bytes as
the client sent them (the proxy fuzzer checks exactly that), so it cannot have changed what the broker stored."""
import time

from soak_clients import short_digest


def served_directly(bootstrap, topic, partitions, wanted, timeout=120, quiet=8):
    """The digests (bytes) in `wanted` that a consumer reading every partition of `topic` from its start, directly
    at `bootstrap`, finds; with the number of records it read. Reads until every wanted record is found, nothing new
    came for `quiet` seconds, or `timeout`. Tansu's ListOffsets `latest` answers too low, so no end offset is asked."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak-second-source",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    found, read = set(), 0
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline, last_new = time.monotonic() + timeout, time.monotonic()
        while found != wanted and time.monotonic() < deadline and time.monotonic() - last_new < quiet:
            for m in consumer.consume(num_messages=10000, timeout=1.0):
                if m.error():
                    continue
                read += 1
                last_new = time.monotonic()
                digest = bytes.fromhex(short_digest(m.key(), m.value(), m.headers()))
                if digest in wanted:
                    found.add(digest)
    finally:
        consumer.close()
    return found, read
