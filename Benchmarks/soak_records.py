"""The soak's record bookkeeping (Benchmarks/soak.py): the record files the clients append to, and the ledger that
matches every acknowledged record with what the group read."""
import collections
from pathlib import Path


# ---------------------------------------------------------------------------------------------- bookkeeping

class Tail:
    """Complete lines appended to a file since the last call."""

    def __init__(self, path):
        self.path, self.pos, self.rest = Path(path), 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        parts = (self.rest + data).split(b"\n")
        self.rest = parts.pop()
        return parts


class Ledger:
    """Acknowledged and read records by content digest (every record's key names its producer and sequence number,
    so digests are unique), with the partition and offset each was acknowledged at and read from.

    Records are matched by digest, not by offset: after a connection reset, an idempotent producer's retried batch
    is answered DUPLICATE_SEQUENCE_NUMBER by Tansu (it was written before the reset), and librdkafka then reports
    the batch delivered at offsets counted from -1, kafka-python at -1. Such acknowledgements are counted as
    `offset misreported`; their records must still be read."""

    UNKNOWN = (1 << 40) - 1  # offset of an acknowledgement without one

    def __init__(self):
        self.acked = {}  # 16-byte digest -> partition << 40 | offset
        self.consumed = {}  # digest -> where it was first read
        self.covered = 0  # acknowledged records read at least once
        self.consumed_total = self.redelivered = self.stored_twice = 0
        self.second_copies = []  # where records stored twice were read the second time

    @property
    def acknowledged(self):
        return len(self.acked)

    @staticmethod
    def _parse(line):
        digest, partition, offset = line.split()
        offset = int(offset)
        return bytes.fromhex(digest.decode()), (int(partition) << 40) | (offset if offset >= 0 else Ledger.UNKNOWN)

    def ack(self, line):
        digest, key = self._parse(line)
        if digest not in self.acked:
            self.acked[digest] = key
            self.covered += digest in self.consumed

    def consume(self, line):
        digest, key = self._parse(line)
        self.consumed_total += 1
        first = self.consumed.get(digest)
        if first is None:
            self.consumed[digest] = key
            self.covered += digest in self.acked
        elif first == key:
            self.redelivered += 1  # the same offset read again: at-least-once across a rebalance
        else:
            self.stored_twice += 1  # the same record at another offset: written twice
            self.second_copies.append(key)

    def holes(self):
        """{partition: [first, last] of each run of offsets between the lowest and highest read that no member
        read}: where records the group skipped would sit."""
        by_partition = collections.defaultdict(list)
        for key in list(self.consumed.values()) + self.second_copies:
            by_partition[key >> 40].append(key & self.UNKNOWN)
        out = {}
        for partition, offsets in sorted(by_partition.items()):
            offsets.sort()
            runs = [[a + 1, b - 1] for a, b in zip(offsets, offsets[1:]) if b > a + 1]
            if runs:
                out[partition] = runs
        return out

    def lost(self):
        """Digests of the acknowledged records the group never read."""
        return {d for d in self.acked if d not in self.consumed}

    def verdict(self, served_directly=None):
        """served_directly: of the lost records, those the broker serves to a direct reader (soak_broker_check),
        when it was asked; the rest of the lost records were never served by the broker itself."""
        lost = [(d, k) for d, k in self.acked.items() if d not in self.consumed]
        misreported = sum(1 for d, k in self.acked.items() if d in self.consumed and k != self.consumed[d]
                          and (k & self.UNKNOWN) != self.UNKNOWN and k >> 40 == self.consumed[d] >> 40)
        unknown = sum(1 for k in self.acked.values() if k & self.UNKNOWN == self.UNKNOWN)
        other_partition = sum(1 for d, k in self.acked.items() if d in self.consumed and k >> 40 !=
                              self.consumed[d] >> 40)
        holes = self.holes()
        return {"acknowledged": len(self.acked), "consumed_deliveries": self.consumed_total,
                "offsets never read inside the range read (holes)": holes,
                "consumed_distinct": len(self.consumed), "lost": len(lost),
                "lost, acknowledged without offset": sum(1 for d, k in lost if k & self.UNKNOWN == self.UNKNOWN),
                "lost, served by the broker directly": None if served_directly is None else len(served_directly),
                "lost_examples": ["%s acked at p%d@%s" % (d.hex(), k >> 40, "?" if k & self.UNKNOWN == self.UNKNOWN
                                                           else k & self.UNKNOWN) for d, k in lost[:10]],
                "read in another partition than acknowledged": other_partition,
                "acknowledged without offset": unknown, "offset misreported": misreported,
                "redelivered": self.redelivered, "stored_twice": self.stored_twice,
                "consumed_unacknowledged": sum(1 for d in self.consumed if d not in self.acked)}
