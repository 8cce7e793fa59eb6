"""Hand-written Kafka wire helpers for the integration tests: encoders/decoders for the few APIs whose
responses carry broker addresses, a blocking raw-socket client, and a scripted fake Kafka cluster.

Nothing here uses the Swift codec: the point is an independent implementation written from Kafka's
protocol guide (https://kafka.apache.org/protocol) and the JSON message schemas
(clients/src/main/resources/common/message/*.json).

Primitive types (all big-endian):
    int8/int16/int32/int64     fixed width, two's complement
    bool                       int8, 0 or 1
    uuid                       16 raw bytes
    uvarint                    unsigned LEB128 (7 bits per byte, high bit = more)
    STRING                     int16 length + UTF-8 bytes
    NULLABLE_STRING            as STRING, length -1 = null
    COMPACT_STRING             uvarint (length + 1) + bytes; COMPACT_NULLABLE_STRING: 0 = null
    ARRAY                      int32 count + items, -1 = null
    COMPACT_ARRAY              uvarint (count + 1) + items, 0 = null
    TAG_BUFFER                 uvarint count, then per field: uvarint tag, uvarint size, bytes
"Flexible" versions (KIP-482) use the COMPACT_* forms and end every struct with a TAG_BUFFER.

Framing: every request and response is   int32 size | header | body   (size excludes itself).
    Request header v1:  api_key int16, api_version int16, correlation_id int32, client_id NULLABLE_STRING
    Request header v2:  v1 + TAG_BUFFER                (flexible request versions)
    Response header v0: correlation_id int32
    Response header v1: correlation_id int32 + TAG_BUFFER (flexible response versions,
                        EXCEPT ApiVersions, whose response header is always v0 - KIP-511)
The client_id in request header v2 stays a classic NULLABLE_STRING, not a compact one.
"""
import asyncio
import collections
import copy
import socket
import struct
import threading
import time

HOST = "127.0.0.1"

API_PRODUCE, API_METADATA, API_FIND_COORDINATOR, API_API_VERSIONS, API_DESCRIBE_CLUSTER = 0, 3, 10, 18, 60
API_OFFSET_COMMIT = 8

# First flexible version per API key (from each schema's "flexibleVersions"). Keys not listed are treated as
# never flexible (request header v1), which is what a frame with an unknown API key is sent with.
FLEXIBLE_FROM = {API_PRODUCE: 9, API_METADATA: 9, API_FIND_COORDINATOR: 3, API_API_VERSIONS: 3,
                 API_DESCRIBE_CLUSTER: 0, API_OFFSET_COMMIT: 8}

# Kafka's API names by key (the "name" of each *Request.json schema without "Request"), as used in metrics.
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr", 5: "StopReplica",
    6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit", 9: "OffsetFetch", 10: "FindCoordinator",
    11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics", 21: "DeleteRecords",
    22: "InitProducerId", 23: "OffsetForLeaderEpoch", 24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn",
    26: "EndTxn", 27: "WriteTxnMarkers", 28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls",
    31: "DeleteAcls", 32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs",
    36: "SaslAuthenticate", 37: "CreatePartitions", 38: "CreateDelegationToken", 39: "RenewDelegationToken",
    40: "ExpireDelegationToken", 41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
    47: "OffsetDelete", 48: "DescribeClientQuotas", 49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 55: "DescribeQuorum", 57: "UpdateFeatures", 60: "DescribeCluster",
    61: "DescribeProducers", 64: "UnregisterBroker", 65: "DescribeTransactions", 66: "ListTransactions",
    68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe", 71: "GetTelemetrySubscriptions",
    72: "PushTelemetry", 74: "ListClientMetricsResources", 75: "DescribeTopicPartitions",
}

ERROR_NONE, ERROR_COORDINATOR_NOT_AVAILABLE, ERROR_UNSUPPORTED_VERSION = 0, 15, 35


def is_flexible(api_key, version):
    return api_key in FLEXIBLE_FROM and version >= FLEXIBLE_FROM[api_key]


def response_header_flexible(api_key, version):
    return api_key != API_API_VERSIONS and is_flexible(api_key, version)


# ------------------------------------------------------------------------------------ primitives

class Writer:
    def __init__(self, flexible=False):
        self.flex = flexible
        self.buf = bytearray()

    def raw(self, b):
        self.buf += b
        return self

    def i8(self, v):
        return self.raw(struct.pack(">b", v))

    def boolean(self, v):
        return self.raw(b"\x01" if v else b"\x00")

    def i16(self, v):
        return self.raw(struct.pack(">h", v))

    def i32(self, v):
        return self.raw(struct.pack(">i", v))

    def i64(self, v):
        return self.raw(struct.pack(">q", v))

    def uuid(self, v):
        assert len(v) == 16
        return self.raw(v)

    def uvarint(self, v):
        while True:
            b = v & 0x7F
            v >>= 7
            if v:
                self.buf.append(b | 0x80)
            else:
                self.buf.append(b)
                return self

    def string(self, s, nullable=False):
        if s is None:
            assert nullable, "null in a non-nullable string"
            return self.uvarint(0) if self.flex else self.i16(-1)
        data = s.encode()
        if self.flex:
            self.uvarint(len(data) + 1)
        else:
            self.i16(len(data))
        return self.raw(data)

    def array(self, items, write_item, nullable=False):
        if items is None:
            assert nullable, "null in a non-nullable array"
            return self.uvarint(0) if self.flex else self.i32(-1)
        if self.flex:
            self.uvarint(len(items) + 1)
        else:
            self.i32(len(items))
        for item in items:
            write_item(self, item)
        return self

    def tags(self, fields=None):
        """TAG_BUFFER (flexible versions only): fields = {tag: raw bytes}."""
        if self.flex:
            fields = fields or {}
            self.uvarint(len(fields))
            for tag in sorted(fields):
                self.uvarint(tag).uvarint(len(fields[tag])).raw(fields[tag])
        return self

    def bytes(self):
        return bytes(self.buf)


class Reader:
    def __init__(self, buf, pos=0, flexible=False):
        self.buf, self.pos, self.flex = bytes(buf), pos, flexible

    def take(self, fmt):
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return vals[0] if len(vals) == 1 else vals

    def i8(self):
        return self.take(">b")

    def boolean(self):
        return self.take(">b") != 0

    def i16(self):
        return self.take(">h")

    def i32(self):
        return self.take(">i")

    def i64(self):
        return self.take(">q")

    def uuid(self):
        v = self.buf[self.pos:self.pos + 16]
        if len(v) != 16:
            raise ValueError("truncated uuid at %d" % self.pos)
        self.pos += 16
        return v

    def uvarint(self):
        shift = result = 0
        while True:
            if self.pos >= len(self.buf):
                raise ValueError("truncated varint")
            b = self.buf[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def string(self):
        n = self.uvarint() - 1 if self.flex else self.i16()
        if n < 0:
            return None
        if self.pos + n > len(self.buf):
            raise ValueError("truncated string at %d" % self.pos)
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def array(self, read_item):
        n = self.uvarint() - 1 if self.flex else self.i32()
        if n < 0:
            return None
        return [read_item(self) for _ in range(n)]

    def raw_bytes(self):
        """NULLABLE_BYTES / COMPACT_NULLABLE_BYTES."""
        n = self.uvarint() - 1 if self.flex else self.i32()
        if n < 0:
            return None
        v = self.buf[self.pos:self.pos + n]
        self.pos += n
        return v

    def tags(self):
        if not self.flex:
            return {}
        fields = {}
        for _ in range(self.uvarint()):
            tag, size = self.uvarint(), self.uvarint()
            fields[tag] = self.buf[self.pos:self.pos + size]
            self.pos += size
        return fields

    def at_end(self):
        return self.pos == len(self.buf)

    def expect_end(self, what):
        if self.pos != len(self.buf):
            raise ValueError("%s: %d trailing bytes" % (what, len(self.buf) - self.pos))


# ------------------------------------------------------------------------------------ framing

def request_frame(api_key, version, correlation_id, body=b"", client_id="kafkascope-it"):
    """Whole request frame incl. the 4-byte size (header v1, or v2 for flexible versions)."""
    h = Writer().i16(api_key).i16(version).i32(correlation_id).string(client_id, nullable=True)
    if is_flexible(api_key, version):
        h.uvarint(0)  # header TAG_BUFFER, empty
    payload = h.bytes() + body
    return struct.pack(">i", len(payload)) + payload


def parse_request_header(payload):
    """payload = frame without size. Returns (api_key, version, correlation_id, client_id, body_offset)."""
    r = Reader(payload)
    api_key, version, corr = r.i16(), r.i16(), r.i32()
    client_id = r.string()  # classic NULLABLE_STRING in header v1 and v2
    if api_key in FLEXIBLE_FROM and is_flexible(api_key, version):
        r.flex = True
        r.tags()
    return api_key, version, corr, client_id, r.pos


def response_frame(api_key, version, correlation_id, body):
    h = Writer(flexible=response_header_flexible(api_key, version)).i32(correlation_id).tags()
    payload = h.bytes() + body
    return struct.pack(">i", len(payload)) + payload


def response_body_reader(api_key, version, payload):
    """payload = response frame without size. Returns (correlation_id, Reader at body start)."""
    r = Reader(payload, flexible=response_header_flexible(api_key, version))
    corr = r.i32()
    r.tags()
    r.flex = is_flexible(api_key, version)
    return corr, r


# ------------------------------------------------------------------------------------ ApiVersions (key 18)
# Request v0-v2: empty body. v3+ (flexible): client_software_name COMPACT_STRING,
#   client_software_version COMPACT_STRING, TAG_BUFFER.
# Response (header v0 always):
#   error_code int16, api_keys ARRAY[api_key int16, min_version int16, max_version int16 (+TAG_BUFFER v3+)],
#   throttle_time_ms int32 (v1+), TAG_BUFFER (v3+; tags 0-3 = supported/finalized features, zk flag).

def api_versions_request(version, software=("kafkascope-it", "1.0")):
    w = Writer(flexible=is_flexible(API_API_VERSIONS, version))
    if version >= 3:
        w.string(software[0]).string(software[1]).tags()
    return w.bytes()


def encode_api_versions_response(version, d):
    w = Writer(flexible=is_flexible(API_API_VERSIONS, version))
    w.i16(d["error_code"])
    w.array(d["api_keys"], lambda w, k: w.i16(k[0]).i16(k[1]).i16(k[2]).tags())
    if version >= 1:
        w.i32(d.get("throttle_time_ms", 0))
    w.tags(d.get("tags"))
    return w.bytes()


def decode_api_versions_response(version, r):
    d = {"error_code": r.i16()}
    d["api_keys"] = r.array(lambda r: (r.i16(), r.i16(), r.i16(), r.tags())[:3])
    if version >= 1:
        d["throttle_time_ms"] = r.i32()
    d["tags"] = r.tags()
    r.expect_end("ApiVersions v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ Metadata (key 3)
# Request: topics ARRAY[name STRING] (v0: empty array = all topics; v1+ nullable, null = all topics;
#   v10+ each topic is topic_id uuid + name COMPACT_NULLABLE_STRING + TAG_BUFFER),
#   allow_auto_topic_creation bool (v4+), include_cluster_authorized_operations bool (v8-v10),
#   include_topic_authorized_operations bool (v8+), TAG_BUFFER (v9+).
# Response:
#   throttle_time_ms int32 (v3+)
#   brokers ARRAY[node_id int32, host STRING, port int32, rack NULLABLE_STRING (v1+), TAG_BUFFER (v9+)]
#   cluster_id NULLABLE_STRING (v2+)
#   controller_id int32 (v1+)
#   topics ARRAY[error_code int16, name STRING (nullable v12+), topic_id uuid (v10+), is_internal bool (v1+),
#     partitions ARRAY[error_code int16, partition_index int32, leader_id int32, leader_epoch int32 (v7+),
#       replica_nodes ARRAY[int32], isr_nodes ARRAY[int32], offline_replicas ARRAY[int32] (v5+),
#       TAG_BUFFER (v9+)],
#     topic_authorized_operations int32 (v8+), TAG_BUFFER (v9+)]
#   cluster_authorized_operations int32 (v8-v10)
#   TAG_BUFFER (v9+)

def metadata_request(version, topics=None):
    w = Writer(flexible=is_flexible(API_METADATA, version))
    if version == 0:
        w.array(topics or [], lambda w, t: w.string(t))
    elif version < 10:
        w.array(topics, lambda w, t: w.string(t).tags(), nullable=True)
    else:
        w.array(topics, lambda w, t: w.uuid(b"\0" * 16).string(t, nullable=True).tags(), nullable=True)
    if version >= 4:
        w.boolean(False)  # allow_auto_topic_creation
    if 8 <= version <= 10:
        w.boolean(False)  # include_cluster_authorized_operations
    if version >= 8:
        w.boolean(False)  # include_topic_authorized_operations
    w.tags()
    return w.bytes()


def encode_metadata_response(version, d):
    w = Writer(flexible=is_flexible(API_METADATA, version))
    if version >= 3:
        w.i32(d["throttle_time_ms"])

    def broker(w, b):
        w.i32(b["node_id"]).string(b["host"]).i32(b["port"])
        if version >= 1:
            w.string(b["rack"], nullable=True)
        w.tags()

    def int_array(w, xs):
        w.array(xs, lambda w, x: w.i32(x))

    def partition(w, p):
        w.i16(p["error_code"]).i32(p["partition_index"]).i32(p["leader_id"])
        if version >= 7:
            w.i32(p["leader_epoch"])
        int_array(w, p["replica_nodes"])
        int_array(w, p["isr_nodes"])
        if version >= 5:
            int_array(w, p["offline_replicas"])
        w.tags()

    def topic(w, t):
        w.i16(t["error_code"]).string(t["name"], nullable=version >= 12)
        if version >= 10:
            w.uuid(t["topic_id"])
        if version >= 1:
            w.boolean(t["is_internal"])
        w.array(t["partitions"], partition)
        if version >= 8:
            w.i32(t["topic_authorized_operations"])
        w.tags()

    w.array(d["brokers"], broker)
    if version >= 2:
        w.string(d["cluster_id"], nullable=True)
    if version >= 1:
        w.i32(d["controller_id"])
    w.array(d["topics"], topic)
    if 8 <= version <= 10:
        w.i32(d["cluster_authorized_operations"])
    w.tags()
    return w.bytes()


def decode_metadata_response(version, r):
    d = {}
    if version >= 3:
        d["throttle_time_ms"] = r.i32()

    def broker(r):
        b = {"node_id": r.i32(), "host": r.string(), "port": r.i32()}
        if version >= 1:
            b["rack"] = r.string()
        r.tags()
        return b

    def int_array(r):
        return r.array(lambda r: r.i32())

    def partition(r):
        p = {"error_code": r.i16(), "partition_index": r.i32(), "leader_id": r.i32()}
        if version >= 7:
            p["leader_epoch"] = r.i32()
        p["replica_nodes"] = int_array(r)
        p["isr_nodes"] = int_array(r)
        if version >= 5:
            p["offline_replicas"] = int_array(r)
        r.tags()
        return p

    def topic(r):
        t = {"error_code": r.i16(), "name": r.string()}
        if version >= 10:
            t["topic_id"] = r.uuid()
        if version >= 1:
            t["is_internal"] = r.boolean()
        t["partitions"] = r.array(partition)
        if version >= 8:
            t["topic_authorized_operations"] = r.i32()
        r.tags()
        return t

    d["brokers"] = r.array(broker)
    if version >= 2:
        d["cluster_id"] = r.string()
    if version >= 1:
        d["controller_id"] = r.i32()
    d["topics"] = r.array(topic)
    if 8 <= version <= 10:
        d["cluster_authorized_operations"] = r.i32()
    r.tags()
    r.expect_end("Metadata v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ FindCoordinator (key 10)
# Request: v0: key STRING. v1-v2: key STRING, key_type int8 (0 group, 1 transaction).
#   v3 (flexible): key COMPACT_STRING, key_type int8, TAG_BUFFER.
#   v4+: key_type int8, coordinator_keys COMPACT_ARRAY[COMPACT_STRING], TAG_BUFFER.
# Response: v0: error_code int16, node_id int32, host STRING, port int32.
#   v1-v2: throttle_time_ms int32, error_code int16, error_message NULLABLE_STRING, node_id, host, port.
#   v3: as v1 with compact strings + TAG_BUFFER.
#   v4+: throttle_time_ms int32, coordinators COMPACT_ARRAY[key COMPACT_STRING, node_id int32,
#     host COMPACT_STRING, port int32, error_code int16, error_message COMPACT_NULLABLE_STRING, TAG_BUFFER],
#     TAG_BUFFER.

def find_coordinator_request(version, keys, key_type=0):
    w = Writer(flexible=is_flexible(API_FIND_COORDINATOR, version))
    if version <= 3:
        assert len(keys) == 1
        w.string(keys[0])
        if version >= 1:
            w.i8(key_type)
    else:
        w.i8(key_type).array(keys, lambda w, k: w.string(k))
    w.tags()
    return w.bytes()


def decode_find_coordinator_request(version, r):
    if version <= 3:
        key = r.string()
        key_type = r.i8() if version >= 1 else 0
        keys = [key]
    else:
        key_type = r.i8()
        keys = r.array(lambda r: r.string())
    r.tags()
    return key_type, keys


def encode_find_coordinator_response(version, d):
    """d = {"throttle_time_ms", "coordinators": [{key,node_id,host,port,error_code,error_message}]}."""
    w = Writer(flexible=is_flexible(API_FIND_COORDINATOR, version))
    if version >= 1:
        w.i32(d["throttle_time_ms"])
    if version <= 3:
        (c,) = d["coordinators"]
        w.i16(c["error_code"])
        if version >= 1:
            w.string(c["error_message"], nullable=True)
        w.i32(c["node_id"]).string(c["host"]).i32(c["port"])
    else:
        w.array(d["coordinators"], lambda w, c: w.string(c["key"]).i32(c["node_id"]).string(c["host"])
                .i32(c["port"]).i16(c["error_code"]).string(c["error_message"], nullable=True).tags())
    w.tags()
    return w.bytes()


def decode_find_coordinator_response(version, r, keys=None):
    d = {}
    if version >= 1:
        d["throttle_time_ms"] = r.i32()
    if version <= 3:
        c = {"key": keys[0] if keys else None, "error_code": r.i16()}
        c["error_message"] = r.string() if version >= 1 else None
        c.update(node_id=r.i32(), host=r.string(), port=r.i32())
        d["coordinators"] = [c]
    else:
        def coord(r):
            c = {"key": r.string(), "node_id": r.i32(), "host": r.string(), "port": r.i32(),
                 "error_code": r.i16(), "error_message": r.string()}
            r.tags()
            return c
        d["coordinators"] = r.array(coord)
    r.tags()
    r.expect_end("FindCoordinator v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ DescribeCluster (key 60)
# Always flexible. Request: include_cluster_authorized_operations bool, endpoint_type int8 (v1+), TAG_BUFFER.
# Response: throttle_time_ms int32, error_code int16, error_message COMPACT_NULLABLE_STRING,
#   endpoint_type int8 (v1+), cluster_id COMPACT_STRING, controller_id int32,
#   brokers COMPACT_ARRAY[broker_id int32, host COMPACT_STRING, port int32, rack COMPACT_NULLABLE_STRING,
#     TAG_BUFFER],
#   cluster_authorized_operations int32, TAG_BUFFER.

def describe_cluster_request(version):
    w = Writer(flexible=True).boolean(False)
    if version >= 1:
        w.i8(1)  # endpoint_type 1 = brokers
    return w.tags().bytes()


def encode_describe_cluster_response(version, d):
    w = Writer(flexible=True)
    w.i32(d["throttle_time_ms"]).i16(d["error_code"]).string(d["error_message"], nullable=True)
    if version >= 1:
        w.i8(d["endpoint_type"])
    w.string(d["cluster_id"]).i32(d["controller_id"])
    w.array(d["brokers"], lambda w, b: w.i32(b["node_id"]).string(b["host"]).i32(b["port"])
            .string(b["rack"], nullable=True).tags())
    w.i32(d["cluster_authorized_operations"]).tags()
    return w.bytes()


def decode_describe_cluster_response(version, r):
    d = {"throttle_time_ms": r.i32(), "error_code": r.i16(), "error_message": r.string()}
    if version >= 1:
        d["endpoint_type"] = r.i8()
    d["cluster_id"] = r.string()
    d["controller_id"] = r.i32()

    def broker(r):
        b = {"node_id": r.i32(), "host": r.string(), "port": r.i32(), "rack": r.string()}
        r.tags()
        return b
    d["brokers"] = r.array(broker)
    d["cluster_authorized_operations"] = r.i32()
    r.tags()
    r.expect_end("DescribeCluster v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ Produce (key 0), v3-v8 only
# Request (v3-v8, not flexible): transactional_id NULLABLE_STRING, acks int16, timeout_ms int32,
#   topic_data ARRAY[name STRING, partition_data ARRAY[index int32, records NULLABLE_BYTES (int32 length)]].
#   acks = 0 means the broker sends NO response at all.
# Response (v3-v8): responses ARRAY[name STRING, partition_responses ARRAY[index int32, error_code int16,
#   base_offset int64, log_append_time_ms int64 (v2+), log_start_offset int64 (v5+),
#   record_errors ARRAY[batch_index int32, batch_index_error_message NULLABLE_STRING] (v8+),
#   error_message NULLABLE_STRING (v8+)]], throttle_time_ms int32 (v1+).

def produce_request(version, topic, partition, records, acks=-1, timeout_ms=10000):
    assert 3 <= version <= 8
    w = Writer().string(None, nullable=True).i16(acks).i32(timeout_ms)
    w.array([topic], lambda w, t: w.string(t).array(
        [partition], lambda w, p: w.i32(p).i32(len(records)).raw(records)))
    return w.bytes()


def record_batch(records, producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """A magic-2 RecordBatch (uncompressed) of (key, value, headers) built with kafka-python's own builder (it
    computes the CRC-32C). A producer id other than -1 makes it an idempotent batch."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=producer_id, producer_epoch=producer_epoch,
                                        base_sequence=base_sequence, batch_size=1 << 20)
    now = int(time.time() * 1000)
    for offset, (k, v, h) in enumerate(records):
        assert builder.append(offset, now, k, v, h) is not None
    return bytes(builder.build())


def encode_produce_response(version, d):
    assert 3 <= version <= 8
    w = Writer()

    def partition(w, p):
        w.i32(p["index"]).i16(p["error_code"]).i64(p["base_offset"]).i64(p["log_append_time_ms"])
        if version >= 5:
            w.i64(p["log_start_offset"])
        if version >= 8:
            w.array(p["record_errors"], lambda w, e: w.i32(e[0]).string(e[1], nullable=True))
            w.string(p["error_message"], nullable=True)
    w.array(d["responses"], lambda w, t: w.string(t["name"]).array(t["partitions"], partition))
    return w.i32(d["throttle_time_ms"]).bytes()


def decode_produce_response(version, r):
    def partition(r):
        p = {"index": r.i32(), "error_code": r.i16(), "base_offset": r.i64(), "log_append_time_ms": r.i64()}
        if version >= 5:
            p["log_start_offset"] = r.i64()
        if version >= 8:
            p["record_errors"] = r.array(lambda r: (r.i32(), r.string()))
            p["error_message"] = r.string()
        return p
    d = {"responses": r.array(lambda r: {"name": r.string(), "partitions": r.array(partition)})}
    d["throttle_time_ms"] = r.i32()
    r.expect_end("Produce v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ OffsetCommit (key 8), v2-v7 only
# Request (v2-v7, not flexible): group_id STRING, generation_id int32, member_id STRING,
#   group_instance_id NULLABLE_STRING (v7+), retention_time_ms int64 (v2-v4),
#   topics ARRAY[name STRING, partitions ARRAY[partition_index int32, committed_offset int64,
#     committed_leader_epoch int32 (v6+), committed_metadata NULLABLE_STRING]].
# Response: throttle_time_ms int32 (v3+), topics ARRAY[name STRING, partitions ARRAY[partition_index int32,
#   error_code int16]]. There is no top-level error code.

def offset_commit_request(version, group, generation, member_id, offsets):
    """offsets = {topic: {partition: offset}}."""
    assert 2 <= version <= 7
    w = Writer().string(group).i32(generation).string(member_id)
    if version >= 7:
        w.string(None, nullable=True)
    if version <= 4:
        w.i64(-1)

    def partition(w, item):
        w.i32(item[0]).i64(item[1])
        if version >= 6:
            w.i32(-1)
        w.string(None, nullable=True)
    w.array(sorted(offsets), lambda w, t: w.string(t).array(sorted(offsets[t].items()), partition))
    return w.bytes()


def decode_offset_commit_response(version, r):
    d = {"throttle_time_ms": r.i32() if version >= 3 else 0}
    d["topics"] = r.array(lambda r: {"name": r.string(), "partitions": r.array(
        lambda r: {"partition_index": r.i32(), "error_code": r.i16()})})
    r.expect_end("OffsetCommit v%d response" % version)
    return d


DECODERS = {API_API_VERSIONS: decode_api_versions_response, API_METADATA: decode_metadata_response,
            API_DESCRIBE_CLUSTER: decode_describe_cluster_response}


# ------------------------------------------------------------------------------------ raw blocking client

class ConnectionClosed(Exception):
    pass


class WireClient:
    """One blocking TCP connection speaking raw Kafka frames. Every read has a timeout."""

    def __init__(self, host, port, timeout=10.0, client_id="kafkascope-it"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.client_id = client_id
        self.next_corr = 1
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, api_key, version, body, correlation_id=None, client_id=None):
        corr = self.next_corr if correlation_id is None else correlation_id
        self.next_corr = corr + 1
        self.sock.sendall(request_frame(api_key, version, corr, body,
                                        self.client_id if client_id is None else client_id))
        return corr

    def _read_exactly(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("connection closed after %d of %d bytes" % (len(self.buf), n))
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv_frame(self):
        """Payload of the next frame (without its size prefix)."""
        (size,) = struct.unpack(">i", self._read_exactly(4))
        if size < 4 or size > 64 << 20:
            raise ValueError("implausible response frame size %d" % size)
        return self._read_exactly(size)

    def call(self, api_key, version, body, client_id=None):
        """Send one request and read its response; returns (payload, body Reader)."""
        corr = self.send(api_key, version, body, client_id=client_id)
        payload = self.recv_frame()
        got, r = response_body_reader(api_key, version, payload)
        if got != corr:
            raise AssertionError("correlation id %d in response, %d expected" % (got, corr))
        return payload, r

    def api_versions(self, version=0):
        _, r = self.call(API_API_VERSIONS, version, api_versions_request(version))
        return decode_api_versions_response(version, r)

    def metadata(self, version, topics=None, client_id=None):
        _, r = self.call(API_METADATA, version, metadata_request(version, topics), client_id=client_id)
        return decode_metadata_response(version, r)

    def find_coordinator(self, version, keys, key_type=0):
        _, r = self.call(API_FIND_COORDINATOR, version, find_coordinator_request(version, keys, key_type))
        return decode_find_coordinator_response(version, r, keys)

    def describe_cluster(self, version=0):
        _, r = self.call(API_DESCRIBE_CLUSTER, version, describe_cluster_request(version))
        return decode_describe_cluster_response(version, r)


def wait_closed(sock, timeout):
    """Read until the peer closes. Returns (closed, bytes received before close). Reset counts as closed."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, got
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, got
        except (ConnectionResetError, BrokenPipeError):
            return True, got
        if not chunk:
            return True, got
        got += chunk


# ------------------------------------------------------------------------------------ fake cluster

class LoopThread:
    """asyncio servers on a loop of their own, run by a daemon thread so blocking tests can drive them
    (FakeCluster, secured_brokers.SaslUpstream; here because kafka_wire must not import pytest-dependent modules).
    Subclasses start their servers in _open(), on the loop, appending them to self.servers, and keep each
    connection's StreamWriter in self._writers while it is open, so stop() can close them all."""

    what = "asyncio servers"  # for the start() error

    def __init__(self, thread_name):
        self.loop = asyncio.new_event_loop()
        self.servers, self._writers = [], set()
        self.thread = threading.Thread(target=self._run, daemon=True, name=thread_name)
        self._ready, self._error = threading.Event(), None

    def _open(self):
        raise NotImplementedError

    def start(self, timeout=10.0):
        """Returns once the servers accept; raises what _open() raised."""
        self.thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("%s did not start within %.0f s" % (self.what, timeout))
        if self._error:
            raise self._error
        return self

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self._open()
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
        self._ready.set()
        if not self._error:
            self.loop.run_forever()
        # Stopped: cancel handlers still running (e.g. a delayed answer), then release the loop, so no task is
        # left pending at exit.
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        for s in self.servers:
            self.loop.run_until_complete(s.wait_closed())
        self.loop.close()

    def stop(self):
        if not self.thread.is_alive():
            return

        def shutdown():
            for s in self.servers:
                s.close()
            for w in list(self._writers):
                w.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(shutdown)
        self.thread.join(10)


Request = collections.namedtuple("Request", "node_id api_key version correlation_id client_id")
CLOSE = object()        # override/respond result: close the connection without answering
NO_RESPONSE = object()  # respond result: send nothing, keep reading (Produce with acks=0)


class FakeCluster(LoopThread):
    """Scripted Kafka 'brokers', one asyncio server per node id, on their own thread.

    Each fake answers ApiVersions (v0-v3), Metadata (v0-v12), FindCoordinator (v0-v4) and DescribeCluster
    (v0-v1) describing ALL fake brokers at their real 127.0.0.1 ports. Every answer puts the answering
    broker's node id in throttle_time_ms (where the version has it), so a client can tell who answered.
    Produce v3-v8 is acknowledged without storing anything, and - like Kafka - NOT answered when acks=0.
    Every request is appended to self.requests (thread-safe list append) with the node that received it.
    Hook: `override(node_id, api_key, version, corr, client_id, body)` may return a whole raw response frame
    to send instead, or CLOSE to close the connection without answering; None means the default answer.
    `delays[client_id] = seconds` holds back the answers to that client's requests.
    """

    API_RANGES = [(API_PRODUCE, 3, 8), (API_METADATA, 0, 12), (API_FIND_COORDINATOR, 0, 4),
                  (API_API_VERSIONS, 0, 3), (API_DESCRIBE_CLUSTER, 0, 1)]
    CLUSTER_ID = "fake-cluster"
    TOPIC_ID = bytes(range(1, 17))
    what = "fake cluster"

    def __init__(self, node_ids, coordinators=None, controller_id=None, override=None):
        self.node_ids = list(node_ids)
        self.coordinators = coordinators or {}  # group key -> node id; others -> COORDINATOR_NOT_AVAILABLE
        self.controller_id = self.node_ids[0] if controller_id is None else controller_id
        self.override = override
        self.delays = {}
        self.requests = []
        self.sent = []  # (node_id, client_id, correlation_id, decoded response dict sent)
        self.ports = {}
        super().__init__("fake-kafka")

    # -- lifecycle
    def _open(self):
        for nid in self.node_ids:
            server = self.loop.run_until_complete(asyncio.start_server(
                lambda r, w, nid=nid: self._handle(nid, r, w), HOST, 0))
            self.servers.append(server)
            self.ports[nid] = server.sockets[0].getsockname()[1]

    def bootstrap(self):
        return ",".join("%s:%d" % (HOST, self.ports[n]) for n in self.node_ids)

    def received_by(self, client_id):
        """Requests (with the receiving node id) that carried this client_id."""
        return [r for r in list(self.requests) if r.client_id == client_id]

    def sent_to(self, client_id):
        """[(node_id, response dict)] the fakes answered to requests carrying this client_id."""
        return [(nid, d) for nid, cid, _, d in list(self.sent) if cid == client_id]

    # -- content
    def brokers(self):
        return [{"node_id": n, "host": HOST, "port": self.ports[n], "rack": "rack-%d" % n} for n in self.node_ids]

    def metadata(self, nid):
        nodes = self.node_ids
        partitions = [{"error_code": 0, "partition_index": i, "leader_id": nodes[i % len(nodes)],
                       "leader_epoch": 5, "replica_nodes": list(nodes), "isr_nodes": list(nodes),
                       "offline_replicas": []} for i in range(len(nodes))]
        return {"throttle_time_ms": nid, "brokers": self.brokers(), "cluster_id": self.CLUSTER_ID,
                "controller_id": self.controller_id,
                "topics": [{"error_code": 0, "name": "fake-topic", "topic_id": self.TOPIC_ID,
                            "is_internal": False, "partitions": partitions,
                            "topic_authorized_operations": -2147483648}],
                "cluster_authorized_operations": -2147483648}

    def coordinator(self, key):
        nid = self.coordinators.get(key)
        if nid is None:
            return {"key": key, "node_id": -1, "host": "", "port": -1,
                    "error_code": ERROR_COORDINATOR_NOT_AVAILABLE, "error_message": "no coordinator for " + key}
        return {"key": key, "node_id": nid, "host": HOST, "port": self.ports[nid], "error_code": 0,
                "error_message": None}

    def describe_cluster(self, nid, version):
        return {"throttle_time_ms": nid, "error_code": 0, "error_message": None, "endpoint_type": 1,
                "cluster_id": self.CLUSTER_ID, "controller_id": self.controller_id, "brokers": self.brokers(),
                "cluster_authorized_operations": -2147483648}

    def respond(self, nid, api_key, version, corr, client_id, body):
        """Returns (response frame or NO_RESPONSE or CLOSE, decoded response or None)."""
        r = Reader(body, flexible=api_key in FLEXIBLE_FROM and is_flexible(api_key, version))
        if api_key == API_API_VERSIONS:
            if version > 3:  # KIP-511: answer an unsupported version with a v0 response listing what we support
                d = {"error_code": ERROR_UNSUPPORTED_VERSION, "api_keys": self.API_RANGES}
                return response_frame(api_key, 0, corr, encode_api_versions_response(0, d)), d
            d = {"error_code": 0, "api_keys": self.API_RANGES, "throttle_time_ms": nid}
            return response_frame(api_key, version, corr, encode_api_versions_response(version, d)), d
        if api_key == API_METADATA and version <= 12:
            d = self.metadata(nid)
            return response_frame(api_key, version, corr, encode_metadata_response(version, d)), d
        if api_key == API_FIND_COORDINATOR and version <= 4:
            _, keys = decode_find_coordinator_request(version, r)
            d = {"throttle_time_ms": nid, "coordinators": [self.coordinator(k) for k in keys]}
            return response_frame(api_key, version, corr, encode_find_coordinator_response(version, d)), d
        if api_key == API_DESCRIBE_CLUSTER and version <= 1:
            d = self.describe_cluster(nid, version)
            return response_frame(api_key, version, corr, encode_describe_cluster_response(version, d)), d
        if api_key == API_PRODUCE and 3 <= version <= 8:
            r.string()  # transactional_id
            if r.i16() == 0:  # acks
                return NO_RESPONSE, None
            r.i32()  # timeout_ms
            topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.raw_bytes()))))
            d = {"responses": [{"name": t, "partitions": [
                {"index": i, "error_code": 0, "base_offset": 0, "log_append_time_ms": -1, "log_start_offset": 0,
                 "record_errors": [], "error_message": None} for i, _ in parts]} for t, parts in topics],
                 "throttle_time_ms": nid}
            return response_frame(api_key, version, corr, encode_produce_response(version, d)), d
        return CLOSE, None

    async def _handle(self, nid, reader, writer):
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readexactly(4)
                (size,) = struct.unpack(">i", head)
                if size < 8 or size > 16 << 20:
                    break
                payload = await reader.readexactly(size)
                api_key, version, corr, client_id, off = parse_request_header(payload)
                body = payload[off:]
                self.requests.append(Request(nid, api_key, version, corr, client_id))
                frame = None
                if self.override:
                    frame = self.override(nid, api_key, version, corr, client_id, body)
                if frame is None:
                    frame, sent = self.respond(nid, api_key, version, corr, client_id, body)
                    if sent is not None:
                        self.sent.append((nid, client_id, corr, copy.deepcopy(sent)))
                if frame is CLOSE:
                    break
                if frame is NO_RESPONSE:
                    continue
                if self.delays.get(client_id):
                    await asyncio.sleep(self.delays[client_id])
                writer.write(frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, struct.error):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
