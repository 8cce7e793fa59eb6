"""Hand-written Kafka wire helpers for the integration tests: encoders/decoders for the few APIs whose
responses carry broker addresses (and for Produce and Fetch, whose KIP-951 NodeEndpoints do too), a blocking
raw-socket client, and a scripted fake Kafka cluster.

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
    NULLABLE_BYTES             int32 length + bytes, -1 = null; COMPACT_NULLABLE_BYTES: uvarint (length + 1), 0 = null
"Flexible" versions (KIP-482) use the COMPACT_* forms and end every struct with a TAG_BUFFER. A schema field with
"taggedVersions" is not written in its place but in the TAG_BUFFER of its struct (ascending tag numbers), and only
when it differs from its default; its value there is encoded as a normal flexible field would be (a struct with its
own trailing TAG_BUFFER, a COMPACT_ARRAY...).

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
API_OFFSET_COMMIT, API_FETCH = 8, 1

# First flexible version per API key (from each schema's "flexibleVersions"). Keys not listed are treated as
# never flexible (request header v1), which is what a frame with an unknown API key is sent with.
FLEXIBLE_FROM = {API_PRODUCE: 9, API_METADATA: 9, API_FIND_COORDINATOR: 3, API_API_VERSIONS: 3,
                 API_DESCRIBE_CLUSTER: 0, API_OFFSET_COMMIT: 8, API_FETCH: 12}

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
ERROR_NOT_LEADER_OR_FOLLOWER = 6
ERROR_REBOOTSTRAP_REQUIRED = 129  # Errors.java: "Client metadata is stale. The client should rebootstrap..." (KIP-1102)


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

    def nullable_bytes(self, v):
        """NULLABLE_BYTES / COMPACT_NULLABLE_BYTES (also the "records" type)."""
        if v is None:
            return self.uvarint(0) if self.flex else self.i32(-1)
        if self.flex:
            self.uvarint(len(v) + 1)
        else:
            self.i32(len(v))
        return self.raw(v)

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
        if self.pos + n > len(self.buf):
            raise ValueError("truncated bytes at %d" % self.pos)
        v = self.buf[self.pos:self.pos + n]
        self.pos += n
        return v

    def tags(self):
        if not self.flex:
            return {}
        fields = {}
        for _ in range(self.uvarint()):
            tag, size = self.uvarint(), self.uvarint()
            if self.pos + size > len(self.buf):
                raise ValueError("truncated tagged field %d at %d" % (tag, self.pos))
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


# ------------------------------------------------------------------------------------ tagged fields

def write_tagged(w, d, known):
    """The TAG_BUFFER of a struct in a flexible version. known = [(tag, key, encode(Writer, value))]: each key whose
    value in d is not None is written under its tag; d["unknown_tags"] ({tag: raw bytes}, optional) too."""
    if not w.flex:
        return w
    fields = dict(d.get("unknown_tags") or {})
    for tag, key, encode in known:
        if d.get(key) is not None:
            fields[tag] = encode(Writer(flexible=True), d[key]).bytes()
    return w.tags(fields)


def read_tagged(r, d, known):
    """Reads a struct's TAG_BUFFER into d: every known key is set (None when absent); tags nobody expects are kept
    raw in d["unknown_tags"] so that comparisons see them."""
    if not r.flex:
        return d
    fields = r.tags()
    for tag, key, decode in known:
        raw = fields.pop(tag, None)
        if raw is None:
            d[key] = None
        else:
            sub = Reader(raw, flexible=True)
            d[key] = decode(sub)
            sub.expect_end("tagged field %s" % key)
    if fields:
        d["unknown_tags"] = fields
    return d


# LeaderIdAndEpoch (Produce v10+ and Fetch v12+ CurrentLeader): leader_id int32, leader_epoch int32, TAG_BUFFER.
def write_leader(w, v):
    return w.i32(v["leader_id"]).i32(v["leader_epoch"]).tags()


def read_leader(r):
    v = {"leader_id": r.i32(), "leader_epoch": r.i32()}
    r.tags()
    return v


# NodeEndpoints (KIP-951; Produce v10+ and Fetch v16+, top-level tag 0): COMPACT_ARRAY[node_id int32,
#   host COMPACT_STRING, port int32, rack COMPACT_NULLABLE_STRING, TAG_BUFFER].
def write_node_endpoints(w, endpoints):
    return w.array(endpoints, lambda w, e: w.i32(e["node_id"]).string(e["host"]).i32(e["port"])
                   .string(e["rack"], nullable=True).tags())


def read_node_endpoints(r):
    def endpoint(r):
        e = {"node_id": r.i32(), "host": r.string(), "port": r.i32(), "rack": r.string()}
        r.tags()
        return e
    return r.array(endpoint)


# ------------------------------------------------------------------------------------ ApiVersions (key 18)
# Request v0-v2: empty body. v3+ (flexible): client_software_name COMPACT_STRING,
#   client_software_version COMPACT_STRING, then v5+ (KIP-1242) cluster_id COMPACT_NULLABLE_STRING (default null)
#   and node_id int32 (default -1): the cluster and node the client means to reach; TAG_BUFFER.
#   v4 is laid out as v3. "v6" is no Kafka version yet: the tests use it as a future version with v5's layout.
# Response (header v0 always):
#   error_code int16, api_keys ARRAY[api_key int16, min_version int16, max_version int16 (+TAG_BUFFER v3+)],
#   throttle_time_ms int32 (v1+), TAG_BUFFER (v3+; tags 0-3 = supported/finalized features, zk flag).
#   v4-v6 are laid out as v3. A broker answers a version it does not know with a v0 response (KIP-511):
#   error_code 35 (UNSUPPORTED_VERSION) and at least its own ApiVersions range.

def api_versions_request(version, software=("kafkascope-it", "1.0"), cluster_id=None, node_id=-1):
    w = Writer(flexible=is_flexible(API_API_VERSIONS, version))
    if version >= 3:
        w.string(software[0]).string(software[1])
        if version >= 5:
            w.string(cluster_id, nullable=True).i32(node_id)
        w.tags()
    return w.bytes()


def decode_api_versions_request(version, r):
    d = {}
    if version >= 3:
        d["client_software_name"] = r.string()
        d["client_software_version"] = r.string()
        if version >= 5:
            d["cluster_id"] = r.string()
            d["node_id"] = r.i32()
        d["tags"] = r.tags()
    r.expect_end("ApiVersions v%d request" % version)
    return d


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
#   error_code int16 (v13+: top-level error, e.g. REBOOTSTRAP_REQUIRED - KIP-1102)
#   TAG_BUFFER (v9+)
# v13's request is laid out as v12's.

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
    if version >= 13:
        w.i16(d.get("error_code", 0))
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
    if version >= 13:
        d["error_code"] = r.i16()
    r.tags()
    r.expect_end("Metadata v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ FindCoordinator (key 10)
# Request: v0: key STRING. v1-v2: key STRING, key_type int8 (0 group, 1 transaction).
#   v3 (flexible): key COMPACT_STRING, key_type int8, TAG_BUFFER.
#   v4+: key_type int8 (2 = share, v6+), coordinator_keys COMPACT_ARRAY[COMPACT_STRING], TAG_BUFFER.
#   v5 (TRANSACTION_ABORTABLE may be returned) and v6 (share groups, KIP-932) are laid out as v4, both ways.
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
# Always flexible. Request: include_cluster_authorized_operations bool, endpoint_type int8 (v1+),
#   include_fenced_brokers bool (v2+, KIP-1073), TAG_BUFFER.
# Response: throttle_time_ms int32, error_code int16, error_message COMPACT_NULLABLE_STRING,
#   endpoint_type int8 (v1+), cluster_id COMPACT_STRING, controller_id int32,
#   brokers COMPACT_ARRAY[broker_id int32, host COMPACT_STRING, port int32, rack COMPACT_NULLABLE_STRING,
#     is_fenced bool (v2+), TAG_BUFFER],
#   cluster_authorized_operations int32, TAG_BUFFER.

def describe_cluster_request(version, include_fenced_brokers=False):
    w = Writer(flexible=True).boolean(False)
    if version >= 1:
        w.i8(1)  # endpoint_type 1 = brokers
    if version >= 2:
        w.boolean(include_fenced_brokers)
    return w.tags().bytes()


def decode_describe_cluster_request(version, r):
    d = {"include_cluster_authorized_operations": r.boolean()}
    if version >= 1:
        d["endpoint_type"] = r.i8()
    if version >= 2:
        d["include_fenced_brokers"] = r.boolean()
    r.tags()
    r.expect_end("DescribeCluster v%d request" % version)
    return d


def encode_describe_cluster_response(version, d):
    w = Writer(flexible=True)
    w.i32(d["throttle_time_ms"]).i16(d["error_code"]).string(d["error_message"], nullable=True)
    if version >= 1:
        w.i8(d["endpoint_type"])
    w.string(d["cluster_id"]).i32(d["controller_id"])
    def broker(w, b):
        w.i32(b["node_id"]).string(b["host"]).i32(b["port"]).string(b["rack"], nullable=True)
        if version >= 2:
            w.boolean(b.get("is_fenced", False))
        w.tags()
    w.array(d["brokers"], broker)
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
        if version >= 2:
            b["is_fenced"] = r.boolean()
        r.tags()
        return b
    d["brokers"] = r.array(broker)
    d["cluster_authorized_operations"] = r.i32()
    r.tags()
    r.expect_end("DescribeCluster v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ Produce (key 0), v3-v13
# Request: transactional_id NULLABLE_STRING, acks int16, timeout_ms int32,
#   topic_data ARRAY[name STRING (v3-v12) | topic_id uuid (v13+, KIP-516),
#     partition_data ARRAY[index int32, records NULLABLE_BYTES, TAG_BUFFER (v9+)], TAG_BUFFER (v9+)],
#   TAG_BUFFER (v9+). Flexible (compact forms, request header v2) from v9.
#   acks = 0 means the broker sends NO response at all.
# Response: responses ARRAY[name STRING (v3-v12) | topic_id uuid (v13+),
#     partition_responses ARRAY[index int32, error_code int16, base_offset int64, log_append_time_ms int64 (v2+),
#       log_start_offset int64 (v5+),
#       record_errors ARRAY[batch_index int32, batch_index_error_message NULLABLE_STRING, TAG_BUFFER (v9+)] (v8+),
#       error_message NULLABLE_STRING (v8+),
#       TAG_BUFFER (v9+; tag 0 = current_leader LeaderIdAndEpoch, v10+)],
#     TAG_BUFFER (v9+)],
#   throttle_time_ms int32 (v1+),
#   TAG_BUFFER (v9+; tag 0 = node_endpoints NodeEndpoints, v10+: where the current leaders named in partitions
#     with NOT_LEADER_OR_FOLLOWER are).
# Decoded: topics are {"name": ...} up to v12 and {"topic_id": 16 bytes} from v13; record_errors are
#   (batch_index, message) tuples; "current_leader" (per partition) and "node_endpoints" are None when absent.

def produce_request(version, topic, partition, records, acks=-1, timeout_ms=10000, transactional_id=None):
    """One topic (a name, or from v13 a 16-byte topic id) and one partition."""
    return encode_produce_request(version, {
        "transactional_id": transactional_id, "acks": acks, "timeout_ms": timeout_ms,
        "topics": [{("topic_id" if version >= 13 else "name"): topic,
                    "partitions": [{"index": partition, "records": records}]}]})


def encode_produce_request(version, d):
    assert 3 <= version <= 13
    w = Writer(flexible=is_flexible(API_PRODUCE, version))
    w.string(d["transactional_id"], nullable=True).i16(d["acks"]).i32(d["timeout_ms"])

    def topic(w, t):
        if version >= 13:
            w.uuid(t["topic_id"])
        else:
            w.string(t["name"])
        w.array(t["partitions"], lambda w, p: w.i32(p["index"]).nullable_bytes(p["records"]).tags())
        w.tags()
    w.array(d["topics"], topic)
    return w.tags().bytes()


def decode_produce_request(version, r):
    assert 3 <= version <= 13
    d = {"transactional_id": r.string(), "acks": r.i16(), "timeout_ms": r.i32()}

    def partition(r):
        p = {"index": r.i32(), "records": r.raw_bytes()}
        r.tags()
        return p

    def topic(r):
        t = {"topic_id": r.uuid()} if version >= 13 else {"name": r.string()}
        t["partitions"] = r.array(partition)
        r.tags()
        return t
    d["topics"] = r.array(topic)
    r.tags()
    r.expect_end("Produce v%d request" % version)
    return d


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
    assert 3 <= version <= 13
    w = Writer(flexible=is_flexible(API_PRODUCE, version))
    leader_tags = [(0, "current_leader", write_leader)] if version >= 10 else []

    def partition(w, p):
        w.i32(p["index"]).i16(p["error_code"]).i64(p["base_offset"]).i64(p["log_append_time_ms"])
        if version >= 5:
            w.i64(p["log_start_offset"])
        if version >= 8:
            w.array(p["record_errors"], lambda w, e: w.i32(e[0]).string(e[1], nullable=True).tags())
            w.string(p["error_message"], nullable=True)
        write_tagged(w, p, leader_tags)

    def topic(w, t):
        if version >= 13:
            w.uuid(t["topic_id"])
        else:
            w.string(t["name"])
        w.array(t["partitions"], partition)
        write_tagged(w, t, [])
    w.array(d["responses"], topic)
    w.i32(d["throttle_time_ms"])
    write_tagged(w, d, [(0, "node_endpoints", write_node_endpoints)] if version >= 10 else [])
    return w.bytes()


def decode_produce_response(version, r):
    assert 3 <= version <= 13
    leader_tags = [(0, "current_leader", read_leader)] if version >= 10 else []

    def record_error(r):
        e = (r.i32(), r.string())
        r.tags()
        return e

    def partition(r):
        p = {"index": r.i32(), "error_code": r.i16(), "base_offset": r.i64(), "log_append_time_ms": r.i64()}
        if version >= 5:
            p["log_start_offset"] = r.i64()
        if version >= 8:
            p["record_errors"] = r.array(record_error)
            p["error_message"] = r.string()
        return read_tagged(r, p, leader_tags)

    def topic(r):
        t = {"topic_id": r.uuid()} if version >= 13 else {"name": r.string()}
        t["partitions"] = r.array(partition)
        return read_tagged(r, t, [])
    d = {"responses": r.array(topic)}
    d["throttle_time_ms"] = r.i32()
    read_tagged(r, d, [(0, "node_endpoints", read_node_endpoints)] if version >= 10 else [])
    r.expect_end("Produce v%d response" % version)
    return d


# ------------------------------------------------------------------------------------ Fetch (key 1), v4-v18
# Request: replica_id int32 (v0-v14), max_wait_ms int32, min_bytes int32, max_bytes int32 (v3+),
#   isolation_level int8 (v4+), session_id int32 (v7+), session_epoch int32 (v7+),
#   topics ARRAY[topic STRING (v0-v12) | topic_id uuid (v13+),
#     partitions ARRAY[partition int32, current_leader_epoch int32 (v9+), fetch_offset int64,
#       last_fetched_epoch int32 (v12+), log_start_offset int64 (v5+), partition_max_bytes int32,
#       TAG_BUFFER (v12+; tag 0 = replica_directory_id uuid (v17+), tag 1 = high_watermark int64 (v18+))],
#     TAG_BUFFER (v12+)],
#   forgotten_topics_data ARRAY[topic STRING (v7-v12) | topic_id uuid (v13+), partitions ARRAY[int32],
#     TAG_BUFFER (v12+)] (v7+),
#   rack_id STRING (v11+),
#   TAG_BUFFER (v12+; tag 0 = cluster_id COMPACT_NULLABLE_STRING, tag 1 = replica_state (v15+):
#     replica_id int32, replica_epoch int64, TAG_BUFFER). Flexible (request header v2) from v12.
# Response: throttle_time_ms int32 (v1+), error_code int16 (v7+), session_id int32 (v7+),
#   responses ARRAY[topic STRING (v0-v12) | topic_id uuid (v13+),
#     partitions ARRAY[partition_index int32, error_code int16, high_watermark int64,
#       last_stable_offset int64 (v4+), log_start_offset int64 (v5+),
#       aborted_transactions nullable ARRAY[producer_id int64, first_offset int64, TAG_BUFFER (v12+)] (v4+),
#       preferred_read_replica int32 (v11+), records NULLABLE_BYTES,
#       TAG_BUFFER (v12+; tag 0 = diverging_epoch {epoch int32, end_offset int64, TAG_BUFFER},
#         tag 1 = current_leader LeaderIdAndEpoch, tag 2 = snapshot_id {end_offset int64, epoch int32, TAG_BUFFER})],
#     TAG_BUFFER (v12+)],
#   TAG_BUFFER (v12+; tag 0 = node_endpoints NodeEndpoints (v16+), for partitions with NOT_LEADER_OR_FOLLOWER
#     or FENCED_LEADER_EPOCH). v17 and v18 responses are laid out as v16.
# Decoded: topics are {"topic": name} up to v12 and {"topic_id": 16 bytes} from v13; absent tagged fields are None.

def _write_replica_state(w, v):
    return w.i32(v["replica_id"]).i64(v["replica_epoch"]).tags()


def _read_replica_state(r):
    v = {"replica_id": r.i32(), "replica_epoch": r.i64()}
    r.tags()
    return v


def _write_diverging_epoch(w, v):
    return w.i32(v["epoch"]).i64(v["end_offset"]).tags()


def _read_diverging_epoch(r):
    v = {"epoch": r.i32(), "end_offset": r.i64()}
    r.tags()
    return v


def _write_snapshot_id(w, v):
    return w.i64(v["end_offset"]).i32(v["epoch"]).tags()


def _read_snapshot_id(r):
    v = {"end_offset": r.i64(), "epoch": r.i32()}
    r.tags()
    return v


def _fetch_request_tags(version):
    top = [(0, "cluster_id", lambda w, v: w.string(v, nullable=True))]
    if version >= 15:
        top.append((1, "replica_state", _write_replica_state))
    partition = []
    if version >= 17:
        partition.append((0, "replica_directory_id", lambda w, v: w.uuid(v)))
    if version >= 18:
        partition.append((1, "high_watermark", lambda w, v: w.i64(v)))
    return top, partition


def fetch_request(version, topic, partition, fetch_offset=0, partition_max_bytes=1 << 20, max_wait_ms=100,
                  min_bytes=1, max_bytes=50 << 20, current_leader_epoch=-1):
    """A consumer's fetch of one partition of one topic (a name, or from v13 a 16-byte topic id), outside any
    fetch session."""
    return encode_fetch_request(version, {
        "replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": min_bytes, "max_bytes": max_bytes,
        "isolation_level": 0, "session_id": 0, "session_epoch": -1,
        "topics": [{("topic_id" if version >= 13 else "topic"): topic, "partitions": [{
            "partition": partition, "current_leader_epoch": current_leader_epoch, "fetch_offset": fetch_offset,
            "last_fetched_epoch": -1, "log_start_offset": -1, "partition_max_bytes": partition_max_bytes}]}],
        "forgotten_topics_data": [], "rack_id": ""})


def encode_fetch_request(version, d):
    assert 4 <= version <= 18
    w = Writer(flexible=is_flexible(API_FETCH, version))
    top_tags, partition_tags = _fetch_request_tags(version)
    if version <= 14:
        w.i32(d["replica_id"])
    w.i32(d["max_wait_ms"]).i32(d["min_bytes"]).i32(d["max_bytes"]).i8(d["isolation_level"])
    if version >= 7:
        w.i32(d["session_id"]).i32(d["session_epoch"])

    def partition(w, p):
        w.i32(p["partition"])
        if version >= 9:
            w.i32(p["current_leader_epoch"])
        w.i64(p["fetch_offset"])
        if version >= 12:
            w.i32(p["last_fetched_epoch"])
        if version >= 5:
            w.i64(p["log_start_offset"])
        w.i32(p["partition_max_bytes"])
        write_tagged(w, p, partition_tags)

    def topic_ref(w, t):
        if version >= 13:
            w.uuid(t["topic_id"])
        else:
            w.string(t["topic"])

    def topic(w, t):
        topic_ref(w, t)
        w.array(t["partitions"], partition)
        write_tagged(w, t, [])

    def forgotten(w, t):
        topic_ref(w, t)
        w.array(t["partitions"], lambda w, x: w.i32(x))
        write_tagged(w, t, [])
    w.array(d["topics"], topic)
    if version >= 7:
        w.array(d["forgotten_topics_data"], forgotten)
    if version >= 11:
        w.string(d["rack_id"])
    write_tagged(w, d, top_tags)
    return w.bytes()


def decode_fetch_request(version, r):
    assert 4 <= version <= 18
    top_tags = [(0, "cluster_id", lambda r: r.string())]
    if version >= 15:
        top_tags.append((1, "replica_state", _read_replica_state))
    partition_tags = []
    if version >= 17:
        partition_tags.append((0, "replica_directory_id", lambda r: r.uuid()))
    if version >= 18:
        partition_tags.append((1, "high_watermark", lambda r: r.i64()))
    d = {"replica_id": r.i32() if version <= 14 else -1}
    d.update(max_wait_ms=r.i32(), min_bytes=r.i32(), max_bytes=r.i32(), isolation_level=r.i8())
    if version >= 7:
        d.update(session_id=r.i32(), session_epoch=r.i32())

    def partition(r):
        p = {"partition": r.i32()}
        if version >= 9:
            p["current_leader_epoch"] = r.i32()
        p["fetch_offset"] = r.i64()
        if version >= 12:
            p["last_fetched_epoch"] = r.i32()
        if version >= 5:
            p["log_start_offset"] = r.i64()
        p["partition_max_bytes"] = r.i32()
        return read_tagged(r, p, partition_tags)

    def topic_ref(r):
        return {"topic_id": r.uuid()} if version >= 13 else {"topic": r.string()}

    def topic(r):
        t = topic_ref(r)
        t["partitions"] = r.array(partition)
        return read_tagged(r, t, [])

    def forgotten(r):
        t = topic_ref(r)
        t["partitions"] = r.array(lambda r: r.i32())
        return read_tagged(r, t, [])
    d["topics"] = r.array(topic)
    if version >= 7:
        d["forgotten_topics_data"] = r.array(forgotten)
    if version >= 11:
        d["rack_id"] = r.string()
    read_tagged(r, d, top_tags)
    r.expect_end("Fetch v%d request" % version)
    return d


def _fetch_response_tags(version, write):
    partition = [(0, "diverging_epoch", _write_diverging_epoch if write else _read_diverging_epoch),
                 (1, "current_leader", write_leader if write else read_leader),
                 (2, "snapshot_id", _write_snapshot_id if write else _read_snapshot_id)]
    top = [(0, "node_endpoints", write_node_endpoints if write else read_node_endpoints)] if version >= 16 else []
    return top, partition


def encode_fetch_response(version, d):
    assert 4 <= version <= 18
    w = Writer(flexible=is_flexible(API_FETCH, version))
    top_tags, partition_tags = _fetch_response_tags(version, write=True)
    w.i32(d["throttle_time_ms"])
    if version >= 7:
        w.i16(d["error_code"]).i32(d["session_id"])

    def aborted(w, a):
        w.i64(a["producer_id"]).i64(a["first_offset"])
        write_tagged(w, a, [])

    def partition(w, p):
        w.i32(p["partition_index"]).i16(p["error_code"]).i64(p["high_watermark"]).i64(p["last_stable_offset"])
        if version >= 5:
            w.i64(p["log_start_offset"])
        w.array(p["aborted_transactions"], aborted, nullable=True)
        if version >= 11:
            w.i32(p["preferred_read_replica"])
        w.nullable_bytes(p["records"])
        write_tagged(w, p, partition_tags)

    def topic(w, t):
        if version >= 13:
            w.uuid(t["topic_id"])
        else:
            w.string(t["topic"])
        w.array(t["partitions"], partition)
        write_tagged(w, t, [])
    w.array(d["responses"], topic)
    write_tagged(w, d, top_tags)
    return w.bytes()


def decode_fetch_response(version, r):
    assert 4 <= version <= 18
    top_tags, partition_tags = _fetch_response_tags(version, write=False)
    d = {"throttle_time_ms": r.i32()}
    if version >= 7:
        d.update(error_code=r.i16(), session_id=r.i32())

    def aborted(r):
        return read_tagged(r, {"producer_id": r.i64(), "first_offset": r.i64()}, [])

    def partition(r):
        p = {"partition_index": r.i32(), "error_code": r.i16(), "high_watermark": r.i64(),
             "last_stable_offset": r.i64()}
        if version >= 5:
            p["log_start_offset"] = r.i64()
        p["aborted_transactions"] = r.array(aborted)
        if version >= 11:
            p["preferred_read_replica"] = r.i32()
        p["records"] = r.raw_bytes()
        return read_tagged(r, p, partition_tags)

    def topic(r):
        t = {"topic_id": r.uuid()} if version >= 13 else {"topic": r.string()}
        t["partitions"] = r.array(partition)
        return read_tagged(r, t, [])
    d["responses"] = r.array(topic)
    read_tagged(r, d, top_tags)
    r.expect_end("Fetch v%d response" % version)
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
            API_DESCRIBE_CLUSTER: decode_describe_cluster_response, API_PRODUCE: decode_produce_response,
            API_FETCH: decode_fetch_response}


# ------------------------------------------------------------------------------------ raw blocking client

class ConnectionClosed(Exception):
    pass


class WireClient:
    """One blocking TCP connection speaking raw Kafka frames. Every read has a timeout."""

    def __init__(self, host, port, timeout=10.0, client_id="kafkascope-it", receive_buffer=None):
        """receive_buffer: SO_RCVBUF in bytes, set before connecting so that the TCP window stays that small."""
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
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

    def api_versions(self, version=0, cluster_id=None, node_id=-1):
        _, r = self.call(API_API_VERSIONS, version, api_versions_request(version, cluster_id=cluster_id,
                                                                         node_id=node_id))
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

    def produce(self, version, topic, partition, records, acks=-1):
        """acks must not be 0 here (no response would come)."""
        _, r = self.call(API_PRODUCE, version, produce_request(version, topic, partition, records, acks=acks))
        return decode_produce_response(version, r)

    def fetch(self, version, topic, partition, fetch_offset=0):
        _, r = self.call(API_FETCH, version, fetch_request(version, topic, partition, fetch_offset))
        return decode_fetch_response(version, r)


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


# body: the request body as received (after the header); fields: the body decoded, for the APIs and versions the fake
# answers (None otherwise, or when it did not decode).
Request = collections.namedtuple("Request", "node_id api_key version correlation_id client_id body fields",
                                 defaults=(b"", None))
CLOSE = object()        # override/respond result: close the connection without answering
NO_RESPONSE = object()  # respond result: send nothing, keep reading (Produce with acks=0)


class FakeCluster(LoopThread):
    """Scripted Kafka 'brokers', one asyncio server per node id, on their own thread.

    Each fake advertises the version ranges of self.API_RANGES in ApiVersions: by default ApiVersions v0-v3,
    Metadata v0-v12, FindCoordinator v0-v4, DescribeCluster v0-v1 and Produce v3-v8; `api_ranges` ({api key: (min,
    max)} or [(api key, min, max)]) advertises others instead, up to what the fake can answer: ApiVersions v0-v6
    (v6 being a hypothetical future version with v5's layout), Metadata v0-v13, FindCoordinator v0-v6,
    DescribeCluster v0-v2, Produce v3-v13 and Fetch v4-v18.
    Metadata, FindCoordinator and DescribeCluster describe ALL fake brokers at their real 127.0.0.1 ports (one topic,
    "fake-topic", id TOPIC_ID, one partition per broker, partition i led by the i-th node). Every answer puts the
    answering broker's node id in throttle_time_ms, so a client can tell who answered. Produce is acknowledged
    without storing anything, and - like Kafka - NOT answered when acks=0; Fetch answers every partition asked for
    with no records.
    Like Kafka, a fake answers an ApiVersions request at a version it does not advertise with a v0 response with
    error 35 (UNSUPPORTED_VERSION) listing its ranges (KIP-511); any other request at a version it does not
    advertise (or cannot answer) is appended to self.unsupported and its connection closed, as a Kafka broker
    closes a connection whose request it cannot parse. From ApiVersions v5 (KIP-1242) a request naming a ClusterId
    other than CLUSTER_ID or a NodeId other than the receiving broker's is answered with error 129
    (REBOOTSTRAP_REQUIRED) and no api keys.
    Every request is appended to self.requests (a Request; thread-safe list append) with the node that received it,
    its body and, where the fake decodes it, its fields. Every frame written is appended to self.frames_sent as
    (node_id, client_id, correlation_id, whole frame incl. size).
    Hook: `override(node_id, api_key, version, corr, client_id, body)` may return a whole raw response frame
    to send instead, or CLOSE to close the connection without answering; None means the default answer.
    `delays[client_id] = seconds` holds back the answers to that client's requests.
    """

    API_RANGES = [(API_PRODUCE, 3, 8), (API_METADATA, 0, 12), (API_FIND_COORDINATOR, 0, 4),
                  (API_API_VERSIONS, 0, 3), (API_DESCRIBE_CLUSTER, 0, 1)]
    # What the fake can answer, whatever it advertises.
    ANSWERABLE = {API_API_VERSIONS: (0, 6), API_METADATA: (0, 13), API_FIND_COORDINATOR: (0, 6),
                  API_DESCRIBE_CLUSTER: (0, 2), API_PRODUCE: (3, 13), API_FETCH: (4, 18)}
    CLUSTER_ID = "fake-cluster"
    TOPIC_NAME = "fake-topic"
    TOPIC_ID = bytes(range(1, 17))
    what = "fake cluster"

    def __init__(self, node_ids, coordinators=None, controller_id=None, override=None, api_ranges=None):
        self.node_ids = list(node_ids)
        self.coordinators = coordinators or {}  # group key -> node id; others -> COORDINATOR_NOT_AVAILABLE
        self.controller_id = self.node_ids[0] if controller_id is None else controller_id
        self.override = override
        if isinstance(api_ranges, dict):
            self.API_RANGES = [(k, lo, hi) for k, (lo, hi) in sorted(api_ranges.items())]
        elif api_ranges is not None:
            self.API_RANGES = [tuple(x) for x in api_ranges]
        self.delays = {}
        self.requests = []
        self.unsupported = []  # Requests at versions not advertised or not answerable (connection closed)
        self.sent = []  # (node_id, client_id, correlation_id, decoded response dict sent)
        self.frames_sent = []  # (node_id, client_id, correlation_id, frame)
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

    def frames_sent_to(self, client_id):
        """[(node_id, whole response frame)] written to connections for requests carrying this client_id."""
        return [(nid, f) for nid, cid, _, f in list(self.frames_sent) if cid == client_id]

    def advertised(self, api_key):
        """(min, max) this fake advertises for api_key, or None."""
        for k, lo, hi in self.API_RANGES:
            if k == api_key:
                return lo, hi
        return None

    def answers(self, api_key, version):
        """Whether the fake advertises and can answer this version."""
        adv, can = self.advertised(api_key), self.ANSWERABLE.get(api_key)
        return adv is not None and can is not None and adv[0] <= version <= adv[1] and can[0] <= version <= can[1]

    # -- content
    def brokers(self):
        return [{"node_id": n, "host": HOST, "port": self.ports[n], "rack": "rack-%d" % n} for n in self.node_ids]

    def node_endpoint(self, nid):
        """A KIP-951 NodeEndpoint for broker nid at its real port."""
        return {"node_id": nid, "host": HOST, "port": self.ports[nid], "rack": "rack-%d" % nid}

    def metadata(self, nid):
        nodes = self.node_ids
        partitions = [{"error_code": 0, "partition_index": i, "leader_id": nodes[i % len(nodes)],
                       "leader_epoch": 5, "replica_nodes": list(nodes), "isr_nodes": list(nodes),
                       "offline_replicas": []} for i in range(len(nodes))]
        return {"throttle_time_ms": nid, "brokers": self.brokers(), "cluster_id": self.CLUSTER_ID,
                "controller_id": self.controller_id,
                "topics": [{"error_code": 0, "name": self.TOPIC_NAME, "topic_id": self.TOPIC_ID,
                            "is_internal": False, "partitions": partitions,
                            "topic_authorized_operations": -2147483648}],
                "cluster_authorized_operations": -2147483648, "error_code": 0}

    def coordinator(self, key):
        nid = self.coordinators.get(key)
        if nid is None:
            return {"key": key, "node_id": -1, "host": "", "port": -1,
                    "error_code": ERROR_COORDINATOR_NOT_AVAILABLE, "error_message": "no coordinator for " + key}
        return {"key": key, "node_id": nid, "host": HOST, "port": self.ports[nid], "error_code": 0,
                "error_message": None}

    def describe_cluster(self, nid, version):
        return {"throttle_time_ms": nid, "error_code": 0, "error_message": None, "endpoint_type": 1,
                "cluster_id": self.CLUSTER_ID, "controller_id": self.controller_id,
                "brokers": [dict(b, is_fenced=False) for b in self.brokers()],
                "cluster_authorized_operations": -2147483648}

    def decode_request(self, api_key, version, body):
        """The request's fields, for what the fake answers; None otherwise or when the body does not decode."""
        if not self.answers(api_key, version):
            return None
        decode = {API_API_VERSIONS: decode_api_versions_request, API_PRODUCE: decode_produce_request,
                  API_FETCH: decode_fetch_request, API_DESCRIBE_CLUSTER: decode_describe_cluster_request,
                  API_FIND_COORDINATOR: lambda v, r: dict(zip(("key_type", "keys"),
                                                               decode_find_coordinator_request(v, r)))}.get(api_key)
        if decode is None:
            return None
        try:
            return decode(version, Reader(body, flexible=is_flexible(api_key, version)))
        except (ValueError, struct.error, AssertionError):
            return None

    def respond(self, nid, api_key, version, corr, client_id, body):
        """Returns (response frame or NO_RESPONSE or CLOSE, decoded response or None)."""
        r = Reader(body, flexible=api_key in FLEXIBLE_FROM and is_flexible(api_key, version))
        if api_key == API_API_VERSIONS and not self.answers(api_key, version):
            # KIP-511: answer an unsupported version with a v0 response listing what we support
            d = {"error_code": ERROR_UNSUPPORTED_VERSION, "api_keys": self.API_RANGES}
            return response_frame(api_key, 0, corr, encode_api_versions_response(0, d)), d
        if not self.answers(api_key, version):
            self.unsupported.append(Request(nid, api_key, version, corr, client_id, body))
            return CLOSE, None
        if api_key == API_API_VERSIONS:
            fields = decode_api_versions_request(version, r)
            if version >= 5 and (fields["cluster_id"] not in (None, self.CLUSTER_ID) or
                                 fields["node_id"] not in (-1, nid)):  # KIP-1242
                d = {"error_code": ERROR_REBOOTSTRAP_REQUIRED, "api_keys": [], "throttle_time_ms": nid}
            else:
                d = {"error_code": 0, "api_keys": self.API_RANGES, "throttle_time_ms": nid}
            return response_frame(api_key, version, corr, encode_api_versions_response(version, d)), d
        if api_key == API_METADATA:
            d = self.metadata(nid)
            return response_frame(api_key, version, corr, encode_metadata_response(version, d)), d
        if api_key == API_FIND_COORDINATOR:
            _, keys = decode_find_coordinator_request(version, r)
            d = {"throttle_time_ms": nid, "coordinators": [self.coordinator(k) for k in keys]}
            return response_frame(api_key, version, corr, encode_find_coordinator_response(version, d)), d
        if api_key == API_DESCRIBE_CLUSTER:
            d = self.describe_cluster(nid, version)
            return response_frame(api_key, version, corr, encode_describe_cluster_response(version, d)), d
        if api_key == API_PRODUCE:
            request = decode_produce_request(version, r)
            if request["acks"] == 0:
                return NO_RESPONSE, None
            d = {"responses": [{k: v for k, v in t.items() if k != "partitions"} | {"partitions": [
                {"index": p["index"], "error_code": 0, "base_offset": 0, "log_append_time_ms": -1,
                 "log_start_offset": 0, "record_errors": [], "error_message": None, "current_leader": None}
                for p in t["partitions"]]} for t in request["topics"]],
                 "throttle_time_ms": nid, "node_endpoints": None}
            return response_frame(api_key, version, corr, encode_produce_response(version, d)), d
        if api_key == API_FETCH:
            request = decode_fetch_request(version, r)
            d = {"throttle_time_ms": nid, "error_code": 0, "session_id": 0, "node_endpoints": None,
                 "responses": [{k: v for k, v in t.items() if k in ("topic", "topic_id")} | {"partitions": [
                     {"partition_index": p["partition"], "error_code": 0, "high_watermark": 0,
                      "last_stable_offset": 0, "log_start_offset": 0, "aborted_transactions": None,
                      "preferred_read_replica": -1, "records": b"", "diverging_epoch": None,
                      "current_leader": None, "snapshot_id": None} for p in t["partitions"]]}
                     for t in request["topics"]]}
            return response_frame(api_key, version, corr, encode_fetch_response(version, d)), d
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
                self.requests.append(Request(nid, api_key, version, corr, client_id, body,
                                             self.decode_request(api_key, version, body)))
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
                self.frames_sent.append((nid, client_id, corr, bytes(frame)))
                writer.write(frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, struct.error):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
