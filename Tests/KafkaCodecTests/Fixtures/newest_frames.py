#!/usr/bin/env python3
"""Hand-encoded Kafka frames for the newest API versions in the August 2026 schema snapshot.

No broker or client available to this project speaks these versions: the recorded fixtures (kafka-python and
confluent-kafka against Tansu 0.6.0) top out at Produce v10, Fetch v16, Metadata v12 and ApiVersions v4, and use
none of API keys 88-94. So nothing can be recorded; instead this script encodes one request and one response for
each API below, by hand, from layouts hard-coded in it. The layouts were written by reading Kafka's JSON message
schemas (`../shared/kafka-message-schemas-2026-08/*.json`, outside the repository: Kafka trunk of 2026-08-22).
The script does not read them, or anything else, at run time, and shares no code with the Swift codec.

    key  API                                     version
     0   Produce                                 13  (topics by TopicId; real RecordBatch v2, CRC-32C)
     1   Fetch                                   18
     3   Metadata                                13
    10   FindCoordinator                          6
    18   ApiVersions                              5  (response header v0, like every ApiVersions response)
    60   DescribeCluster                          2
    88   StreamsGroupHeartbeat                    1
    89   StreamsGroupDescribe                     1
    90   DescribeShareGroupOffsets                1
    91   AlterShareGroupOffsets                   0
    92   DeleteShareGroupOffsets                  0
    93   StreamsGroupTopologyDescriptionUpdate    0
    94   UnregisterController                     0

Usage:
    python3 Tests/KafkaCodecTests/Fixtures/newest_frames.py                # writes newest-versions.frames, checks it
    python3 Tests/KafkaCodecTests/Fixtures/newest_frames.py --out PATH
    python3 Tests/KafkaCodecTests/Fixtures/newest_frames.py --check PATH   # decodes an existing file only

The output is deterministic (fixed timestamps, ids and UUIDs): running the script again gives the same bytes.

`--check` parses every frame with a separate decoder that walks the same layouts, and fails unless every byte
of every frame is consumed exactly: size prefix, header, body, every tag buffer and every tagged field's declared
size, and each RecordBatch (batchLength, CRC-32C, record count, record lengths). It also pairs responses with
requests by correlation id, and says whether the file is byte-identical to what this script would write now.
After writing, the script also checks that the decoded values equal the encoded ones. Since the decoder shares
the layouts, it checks the wire rules, not the layouts themselves: those were compared field by field (name,
type, order, nullability, tag) with the JSON schemas when this script was written.

Wire rules used (https://kafka.apache.org/protocol, KIP-482):
  - Every version here is "flexible": strings, arrays and bytes/records are COMPACT (uvarint length + 1, 0 =
    null), and every struct ends with a tag buffer: uvarint count, then per field uvarint tag, uvarint size,
    value, in increasing tag order. Tagged fields that are absent take their default.
  - A nullable struct field (e.g. StreamsGroupHeartbeat's Topology) is an int8 marker, -1 = null, 1 = present,
    followed by the struct (what Kafka's generated MessageData code writes).
  - uint16 is 2 bytes big-endian, unsigned.
  - Request header v2: api_key int16, api_version int16, correlation_id int32, client_id as a CLASSIC nullable
    string (int16 length; the RequestHeader schema marks it "flexibleVersions": "none"), then a tag buffer.
  - Response header v1: correlation_id int32 + tag buffer; except ApiVersions, whose response header is always
    v0 (correlation_id only), so that a client can read it whatever version it asked for.
  - Frame: int32 size (excluding itself) + header + body.

tshark 4.0.17 (the Debian 12 package) cannot cross-check any of these frames: with -d tcp.port==9092,kafka it
marks ApiVersions v5, Metadata v13, Produce v13, Fetch v18 and FindCoordinator v6 "Unsupported API version" (its
dissector knows up to ApiVersions v3, Metadata v9, Produce v8, Fetch v11, FindCoordinator v3) and API keys 60
(DescribeCluster) and 88-94 "Unknown API key". Nothing here depends on tshark.
"""
import argparse
import base64
import os
import struct
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "newest-versions.frames")
COMMAND = "python3 Tests/KafkaCodecTests/Fixtures/newest_frames.py"


# =============================================================================================== primitives

class Writer:
    def __init__(self):
        self.buf = bytearray()

    def raw(self, b):
        self.buf += b

    def pack(self, fmt, v):
        self.buf += struct.pack(fmt, v)

    def uvarint(self, v):
        assert v >= 0
        while v >= 0x80:
            self.buf.append((v & 0x7F) | 0x80)
            v >>= 7
        self.buf.append(v)

    def varint(self, v):
        """Signed zigzag varint (RecordBatch records use these; 64-bit zigzag covers varint and varlong)."""
        self.uvarint((v << 1) ^ (v >> 63))

    def bytes(self):
        return bytes(self.buf)


class DecodeError(Exception):
    pass


class Reader:
    def __init__(self, buf, pos=0, end=None):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def need(self, n, what):
        if n < 0 or self.pos + n > self.end:
            raise DecodeError("%s: need %d bytes at offset %d, %d left" % (what, n, self.pos, self.end - self.pos))

    def take(self, n, what="bytes"):
        self.need(n, what)
        v = self.buf[self.pos:self.pos + n]
        self.pos += n
        return bytes(v)

    def unpack(self, fmt, what):
        n = struct.calcsize(fmt)
        self.need(n, what)
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def uvarint(self, what="uvarint"):
        shift = value = 0
        for _ in range(10):
            self.need(1, what)
            b = self.buf[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7
        raise DecodeError("%s: varint longer than 10 bytes at offset %d" % (what, self.pos))

    def varint(self, what="varint"):
        u = self.uvarint(what)
        return (u >> 1) ^ -(u & 1)

    def left(self):
        return self.end - self.pos


# =============================================================================================== CRC-32C

def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli polynomial, reflected
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value


# =============================================================================================== RecordBatch v2
# baseOffset int64 | batchLength int32 (bytes after this field) | partitionLeaderEpoch int32 | magic int8 = 2 |
# crc uint32 (CRC-32C of everything after it) | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 |
# maxTimestamp int64 | producerId int64 | producerEpoch int16 | baseSequence int32 | recordCount int32 | records
# Record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint | keyLength varint | key |
#         valueLength varint | value | headerCount varint | per header: keyLength varint, key, valueLength varint,
#         value. Lengths -1 = null. All varints here are zigzag.

def record_batch(base_offset, leader_epoch, base_timestamp, records, producer_id=-1, producer_epoch=-1,
                 base_sequence=-1, transactional=False):
    """records: [(timestamp_delta, key bytes|None, value bytes|None, [(header key str, value bytes|None)])]."""
    body = Writer()
    for offset_delta, (ts_delta, key, value, headers) in enumerate(records):
        r = Writer()
        r.pack(">b", 0)  # record attributes (unused)
        r.varint(ts_delta)
        r.varint(offset_delta)
        for blob in (key, value):
            if blob is None:
                r.varint(-1)
            else:
                r.varint(len(blob))
                r.raw(blob)
        r.varint(len(headers))
        for hk, hv in headers:
            hk = hk.encode()
            r.varint(len(hk))
            r.raw(hk)
            if hv is None:
                r.varint(-1)
            else:
                r.varint(len(hv))
                r.raw(hv)
        body.varint(len(r.buf))
        body.raw(r.buf)
    attributes = 0x10 if transactional else 0  # no compression, CreateTime, not a control batch
    tail = struct.pack(">hiqqqhii", attributes, len(records) - 1, base_timestamp,
                       base_timestamp + max(r[0] for r in records), producer_id, producer_epoch, base_sequence,
                       len(records)) + body.bytes()
    crc = crc32c(tail)
    batch_length = 4 + 1 + 4 + len(tail)
    return struct.pack(">qiibI", base_offset, batch_length, leader_epoch, 2, crc) + tail


def check_record_batches(data, what):
    """Walk every batch in a records field; returns (batches, records). Raises DecodeError on any mismatch."""
    r = Reader(data)
    batches = records = 0
    while r.left():
        start = r.pos
        r.unpack(">q", what + " baseOffset")
        batch_length = r.unpack(">i", what + " batchLength")
        r.need(batch_length, what + " batch")
        end = r.pos + batch_length
        r.unpack(">i", what + " partitionLeaderEpoch")
        magic = r.unpack(">b", what + " magic")
        if magic != 2:
            raise DecodeError("%s: magic %d, expected 2" % (what, magic))
        crc = r.unpack(">I", what + " crc")
        if crc32c(data[r.pos:end]) != crc:
            raise DecodeError("%s: CRC-32C mismatch in batch at %d" % (what, start))
        attributes = r.unpack(">h", what + " attributes")
        if attributes & 7:
            raise DecodeError("%s: compressed batch (codec %d): this script only writes uncompressed ones"
                              % (what, attributes & 7))
        last_offset_delta = r.unpack(">i", what + " lastOffsetDelta")
        r.take(8 + 8 + 8 + 2 + 4, what + " timestamps/producer")
        count = r.unpack(">i", what + " recordCount")
        sub = Reader(data, r.pos, end)
        for i in range(count):
            length = sub.varint(what + " record length")
            rec = Reader(data, sub.pos, sub.pos + length)
            sub.need(length, what + " record")
            rec.take(1, "record attributes")
            rec.varint("timestampDelta")
            if rec.varint("offsetDelta") != i:
                raise DecodeError("%s: record %d has a different offsetDelta" % (what, i))
            for part in ("key", "value"):
                n = rec.varint(part + " length")
                if n >= 0:
                    rec.take(n, part)
            for _ in range(rec.varint("header count")):
                rec.take(rec.varint("header key length"), "header key")
                n = rec.varint("header value length")
                if n >= 0:
                    rec.take(n, "header value")
            if rec.left():
                raise DecodeError("%s: record %d has %d trailing bytes" % (what, i, rec.left()))
            sub.pos += length
        if sub.left():
            raise DecodeError("%s: batch at %d has %d bytes after its %d records" % (what, start, sub.left(), count))
        if last_offset_delta != count - 1:
            raise DecodeError("%s: lastOffsetDelta %d with %d records" % (what, last_offset_delta, count))
        r.pos = end
        batches += 1
        records += count
    return batches, records


# =============================================================================================== layouts
# A layout is a tree of F(name, type, nullable, tag). type is a primitive name, Arr(element) or S(fields...);
# an element is a primitive name or S(...). Only the fields present in the version at hand are listed, in
# schema order; tagged fields are listed where the schema lists them but travel in the struct's tag buffer.

PRIMITIVES = {"int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i", "int64": ">q"}


class F:
    def __init__(self, name, type_, nullable=False, tag=None):
        self.name, self.type, self.nullable, self.tag = name, type_, nullable, tag


class Arr:
    def __init__(self, elem):
        self.elem = elem


class S:
    def __init__(self, *fields):
        self.fields = fields
        tags = [f.tag for f in fields if f.tag is not None]
        assert len(tags) == len(set(tags)), "duplicate tag"


def nf(name, type_, tag=None):
    """A nullable field."""
    return F(name, type_, nullable=True, tag=tag)


# ------------------------------------------------------------------------------------- shared sub-layouts

NODE_ENDPOINT = S(F("NodeId", "int32"), F("Host", "string"), F("Port", "int32"), nf("Rack", "string"))
LEADER_ID_AND_EPOCH = S(F("LeaderId", "int32"), F("LeaderEpoch", "int32"))
STREAMS_KEY_VALUE = S(F("Key", "string"), F("Value", "string"))
STREAMS_TOPIC_INFO = S(F("Name", "string"), F("Partitions", "int32"), F("ReplicationFactor", "int16"),
                       F("TopicConfigs", Arr(STREAMS_KEY_VALUE)))
STREAMS_ENDPOINT = S(F("Host", "string"), F("Port", "uint16"))
STREAMS_TASK_IDS = S(F("SubtopologyId", "string"), F("Partitions", Arr("int32")))
STREAMS_TASK_OFFSET = S(F("SubtopologyId", "string"), F("Partition", "int32"), F("Offset", "int64"))
STREAMS_TOPOLOGY_NODE = S(F("Name", "string"), F("NodeType", "int8"), F("SourceTopics", Arr("string")),
                          nf("SinkTopic", "string"), F("Stores", Arr("string")), F("Successors", Arr("string")))
STREAMS_TOPOLOGY_DESCRIPTION = S(
    F("Subtopologies", Arr(S(F("SubtopologyId", "string"), F("Nodes", Arr(STREAMS_TOPOLOGY_NODE))))),
    F("GlobalStores", Arr(S(F("Source", STREAMS_TOPOLOGY_NODE), F("Processor", STREAMS_TOPOLOGY_NODE)))))

# ------------------------------------------------------------------------------------- per API and version
# (api_key, version) -> (name, request layout, response layout). Every one of these versions is flexible.

LAYOUTS = {}

# ApiVersions v5 (flexible 3+). Request v5 adds ClusterId (nullable) and NodeId (KIP-1242).
LAYOUTS[(18, 5)] = ("ApiVersions", S(
    F("ClientSoftwareName", "string"),
    F("ClientSoftwareVersion", "string"),
    nf("ClusterId", "string"),
    F("NodeId", "int32"),
), S(
    F("ErrorCode", "int16"),
    F("ApiKeys", Arr(S(F("ApiKey", "int16"), F("MinVersion", "int16"), F("MaxVersion", "int16")))),
    F("ThrottleTimeMs", "int32"),
    F("SupportedFeatures", Arr(S(F("Name", "string"), F("MinVersion", "int16"), F("MaxVersion", "int16"))), tag=0),
    F("FinalizedFeaturesEpoch", "int64", tag=1),
    # Note the order: MaxVersionLevel before MinVersionLevel (unlike SupportedFeatures).
    F("FinalizedFeatures", Arr(S(F("Name", "string"), F("MaxVersionLevel", "int16"), F("MinVersionLevel", "int16"))),
      tag=2),
    F("ZkMigrationReady", "bool", tag=3),
))

# Metadata v13 (flexible 9+). IncludeClusterAuthorizedOperations (8-10) and ClusterAuthorizedOperations (8-10)
# are gone; v13 adds a top-level ErrorCode at the end of the response.
LAYOUTS[(3, 13)] = ("Metadata", S(
    nf("Topics", Arr(S(F("TopicId", "uuid"), nf("Name", "string")))),
    F("AllowAutoTopicCreation", "bool"),
    F("IncludeTopicAuthorizedOperations", "bool"),
), S(
    F("ThrottleTimeMs", "int32"),
    F("Brokers", Arr(S(F("NodeId", "int32"), F("Host", "string"), F("Port", "int32"), nf("Rack", "string")))),
    nf("ClusterId", "string"),
    F("ControllerId", "int32"),
    F("Topics", Arr(S(
        F("ErrorCode", "int16"),
        nf("Name", "string"),
        F("TopicId", "uuid"),
        F("IsInternal", "bool"),
        F("Partitions", Arr(S(
            F("ErrorCode", "int16"),
            F("PartitionIndex", "int32"),
            F("LeaderId", "int32"),
            F("LeaderEpoch", "int32"),
            F("ReplicaNodes", Arr("int32")),
            F("IsrNodes", Arr("int32")),
            F("OfflineReplicas", Arr("int32")),
        ))),
        F("TopicAuthorizedOperations", "int32"),
    ))),
    F("ErrorCode", "int16"),
))

# Produce v13 (flexible 9+): topic Name (0-12) replaced by TopicId (13+).
LAYOUTS[(0, 13)] = ("Produce", S(
    nf("TransactionalId", "string"),
    F("Acks", "int16"),
    F("TimeoutMs", "int32"),
    F("TopicData", Arr(S(
        F("TopicId", "uuid"),
        F("PartitionData", Arr(S(F("Index", "int32"), nf("Records", "records")))),
    ))),
), S(
    F("Responses", Arr(S(
        F("TopicId", "uuid"),
        F("PartitionResponses", Arr(S(
            F("Index", "int32"),
            F("ErrorCode", "int16"),
            F("BaseOffset", "int64"),
            F("LogAppendTimeMs", "int64"),
            F("LogStartOffset", "int64"),
            F("RecordErrors", Arr(S(F("BatchIndex", "int32"), nf("BatchIndexErrorMessage", "string")))),
            nf("ErrorMessage", "string"),
            F("CurrentLeader", LEADER_ID_AND_EPOCH, tag=0),
        ))),
    ))),
    F("ThrottleTimeMs", "int32"),
    F("NodeEndpoints", Arr(NODE_ENDPOINT), tag=0),
))

# Fetch v18 (flexible 12+). ReplicaId (0-14) is gone, replaced by the tagged ReplicaState (15+); topic names
# (0-12) replaced by TopicId; v17 adds tagged ReplicaDirectoryId, v18 tagged HighWatermark per partition.
LAYOUTS[(1, 18)] = ("Fetch", S(
    nf("ClusterId", "string", tag=0),
    F("ReplicaState", S(F("ReplicaId", "int32"), F("ReplicaEpoch", "int64")), tag=1),
    F("MaxWaitMs", "int32"),
    F("MinBytes", "int32"),
    F("MaxBytes", "int32"),
    F("IsolationLevel", "int8"),
    F("SessionId", "int32"),
    F("SessionEpoch", "int32"),
    F("Topics", Arr(S(
        F("TopicId", "uuid"),
        F("Partitions", Arr(S(
            F("Partition", "int32"),
            F("CurrentLeaderEpoch", "int32"),
            F("FetchOffset", "int64"),
            F("LastFetchedEpoch", "int32"),
            F("LogStartOffset", "int64"),
            F("PartitionMaxBytes", "int32"),
            F("ReplicaDirectoryId", "uuid", tag=0),
            F("HighWatermark", "int64", tag=1),
        ))),
    ))),
    F("ForgottenTopicsData", Arr(S(F("TopicId", "uuid"), F("Partitions", Arr("int32"))))),
    F("RackId", "string"),
), S(
    F("ThrottleTimeMs", "int32"),
    F("ErrorCode", "int16"),
    F("SessionId", "int32"),
    F("Responses", Arr(S(
        F("TopicId", "uuid"),
        F("Partitions", Arr(S(
            F("PartitionIndex", "int32"),
            F("ErrorCode", "int16"),
            F("HighWatermark", "int64"),
            F("LastStableOffset", "int64"),
            F("LogStartOffset", "int64"),
            F("DivergingEpoch", S(F("Epoch", "int32"), F("EndOffset", "int64")), tag=0),
            F("CurrentLeader", LEADER_ID_AND_EPOCH, tag=1),
            F("SnapshotId", S(F("EndOffset", "int64"), F("Epoch", "int32")), tag=2),
            nf("AbortedTransactions", Arr(S(F("ProducerId", "int64"), F("FirstOffset", "int64")))),
            F("PreferredReadReplica", "int32"),
            nf("Records", "records"),
        ))),
    ))),
    F("NodeEndpoints", Arr(NODE_ENDPOINT), tag=0),
))

# FindCoordinator v6 (flexible 3+): Key (0-3) replaced by CoordinatorKeys (4+); the single-coordinator response
# fields (0-3) replaced by Coordinators (4+).
LAYOUTS[(10, 6)] = ("FindCoordinator", S(
    F("KeyType", "int8"),
    F("CoordinatorKeys", Arr("string")),
), S(
    F("ThrottleTimeMs", "int32"),
    F("Coordinators", Arr(S(
        F("Key", "string"),
        F("NodeId", "int32"),
        F("Host", "string"),
        F("Port", "int32"),
        F("ErrorCode", "int16"),
        nf("ErrorMessage", "string"),
    ))),
))

# DescribeCluster v2 (flexible 0+).
LAYOUTS[(60, 2)] = ("DescribeCluster", S(
    F("IncludeClusterAuthorizedOperations", "bool"),
    F("EndpointType", "int8"),
    F("IncludeFencedBrokers", "bool"),
), S(
    F("ThrottleTimeMs", "int32"),
    F("ErrorCode", "int16"),
    nf("ErrorMessage", "string"),
    F("EndpointType", "int8"),
    F("ClusterId", "string"),
    F("ControllerId", "int32"),
    F("Brokers", Arr(S(
        F("BrokerId", "int32"),
        F("Host", "string"),
        F("Port", "int32"),
        nf("Rack", "string"),
        F("IsFenced", "bool"),
    ))),
    F("ClusterAuthorizedOperations", "int32"),
))

# StreamsGroupHeartbeat v1 (flexible 0+). Response: AcceptableRecoveryLagLegacy is v0 only; v1 adds
# AcceptableRecoveryLag (int64) and TopologyDescriptionRequired.
LAYOUTS[(88, 1)] = ("StreamsGroupHeartbeat", S(
    F("GroupId", "string"),
    F("MemberId", "string"),
    F("MemberEpoch", "int32"),
    F("EndpointInformationEpoch", "int32"),
    nf("InstanceId", "string"),
    nf("RackId", "string"),
    F("RebalanceTimeoutMs", "int32"),
    nf("Topology", S(
        F("Epoch", "int32"),
        F("Subtopologies", Arr(S(
            F("SubtopologyId", "string"),
            F("SourceTopics", Arr("string")),
            F("SourceTopicRegex", Arr("string")),
            F("StateChangelogTopics", Arr(STREAMS_TOPIC_INFO)),
            F("RepartitionSinkTopics", Arr("string")),
            F("RepartitionSourceTopics", Arr(STREAMS_TOPIC_INFO)),
            F("CopartitionGroups", Arr(S(
                F("SourceTopics", Arr("int16")),
                F("SourceTopicRegex", Arr("int16")),
                F("RepartitionSourceTopics", Arr("int16")),
            ))),
        ))),
    )),
    nf("ActiveTasks", Arr(STREAMS_TASK_IDS)),
    nf("StandbyTasks", Arr(STREAMS_TASK_IDS)),
    nf("WarmupTasks", Arr(STREAMS_TASK_IDS)),
    nf("ProcessId", "string"),
    nf("UserEndpoint", STREAMS_ENDPOINT),
    nf("ClientTags", Arr(STREAMS_KEY_VALUE)),
    nf("TaskOffsets", Arr(STREAMS_TASK_OFFSET)),
    nf("TaskEndOffsets", Arr(STREAMS_TASK_OFFSET)),
    F("ShutdownApplication", "bool"),
), S(
    F("ThrottleTimeMs", "int32"),
    F("ErrorCode", "int16"),
    nf("ErrorMessage", "string"),
    F("MemberId", "string"),
    F("MemberEpoch", "int32"),
    F("HeartbeatIntervalMs", "int32"),
    F("TaskOffsetIntervalMs", "int32"),
    F("AcceptableRecoveryLag", "int64"),
    nf("Status", Arr(S(F("StatusCode", "int8"), F("StatusDetail", "string")))),
    nf("ActiveTasks", Arr(STREAMS_TASK_IDS)),
    nf("StandbyTasks", Arr(STREAMS_TASK_IDS)),
    nf("WarmupTasks", Arr(STREAMS_TASK_IDS)),
    F("TopologyDescriptionRequired", "bool"),
    F("EndpointInformationEpoch", "int32"),
    nf("PartitionsByUserEndpoint", Arr(S(
        F("UserEndpoint", STREAMS_ENDPOINT),
        F("ActivePartitions", Arr(S(F("Topic", "string"), F("Partitions", Arr("int32"))))),
        F("StandbyPartitions", Arr(S(F("Topic", "string"), F("Partitions", Arr("int32"))))),
    ))),
))

# StreamsGroupDescribe v1 (flexible 0+). v1 adds IncludeTopologyDescription, and per group TopologyDescription,
# TopologyDescriptionStatus and AssignorName. The described Topology differs from the heartbeat's: nullable
# Subtopologies, no SourceTopicRegex / CopartitionGroups, RepartitionSinkTopics before StateChangelogTopics.
STREAMS_ASSIGNMENT = S(F("ActiveTasks", Arr(STREAMS_TASK_IDS)), F("StandbyTasks", Arr(STREAMS_TASK_IDS)),
                       F("WarmupTasks", Arr(STREAMS_TASK_IDS)))
LAYOUTS[(89, 1)] = ("StreamsGroupDescribe", S(
    F("GroupIds", Arr("string")),
    F("IncludeAuthorizedOperations", "bool"),
    F("IncludeTopologyDescription", "bool"),
), S(
    F("ThrottleTimeMs", "int32"),
    F("Groups", Arr(S(
        F("ErrorCode", "int16"),
        nf("ErrorMessage", "string"),
        F("GroupId", "string"),
        F("GroupState", "string"),
        F("GroupEpoch", "int32"),
        F("AssignmentEpoch", "int32"),
        nf("Topology", S(
            F("Epoch", "int32"),
            nf("Subtopologies", Arr(S(
                F("SubtopologyId", "string"),
                F("SourceTopics", Arr("string")),
                F("RepartitionSinkTopics", Arr("string")),
                F("StateChangelogTopics", Arr(STREAMS_TOPIC_INFO)),
                F("RepartitionSourceTopics", Arr(STREAMS_TOPIC_INFO)),
            ))),
        )),
        F("Members", Arr(S(
            F("MemberId", "string"),
            F("MemberEpoch", "int32"),
            nf("InstanceId", "string"),
            nf("RackId", "string"),
            F("ClientId", "string"),
            F("ClientHost", "string"),
            F("TopologyEpoch", "int32"),
            F("ProcessId", "string"),
            nf("UserEndpoint", STREAMS_ENDPOINT),
            F("ClientTags", Arr(STREAMS_KEY_VALUE)),
            F("TaskOffsets", Arr(STREAMS_TASK_OFFSET)),
            F("TaskEndOffsets", Arr(STREAMS_TASK_OFFSET)),
            F("Assignment", STREAMS_ASSIGNMENT),
            F("TargetAssignment", STREAMS_ASSIGNMENT),
            F("IsClassic", "bool"),
        ))),
        F("AuthorizedOperations", "int32"),
        nf("TopologyDescription", STREAMS_TOPOLOGY_DESCRIPTION),
        F("TopologyDescriptionStatus", "int8"),
        nf("AssignorName", "string"),
    ))),
))

# DescribeShareGroupOffsets v1 (flexible 0+). Request Topics is nullable (null = all topics); v1 adds Lag.
LAYOUTS[(90, 1)] = ("DescribeShareGroupOffsets", S(
    F("Groups", Arr(S(
        F("GroupId", "string"),
        nf("Topics", Arr(S(F("TopicName", "string"), F("Partitions", Arr("int32"))))),
    ))),
), S(
    F("ThrottleTimeMs", "int32"),
    F("Groups", Arr(S(
        F("GroupId", "string"),
        F("Topics", Arr(S(
            F("TopicName", "string"),
            F("TopicId", "uuid"),
            F("Partitions", Arr(S(
                F("PartitionIndex", "int32"),
                F("StartOffset", "int64"),
                F("LeaderEpoch", "int32"),
                F("Lag", "int64"),
                F("ErrorCode", "int16"),
                nf("ErrorMessage", "string"),
            ))),
        ))),
        F("ErrorCode", "int16"),
        nf("ErrorMessage", "string"),
    ))),
))

# AlterShareGroupOffsets v0 (flexible 0+).
LAYOUTS[(91, 0)] = ("AlterShareGroupOffsets", S(
    F("GroupId", "string"),
    F("Topics", Arr(S(
        F("TopicName", "string"),
        F("Partitions", Arr(S(F("PartitionIndex", "int32"), F("StartOffset", "int64")))),
    ))),
), S(
    F("ThrottleTimeMs", "int32"),
    F("ErrorCode", "int16"),
    nf("ErrorMessage", "string"),
    F("Responses", Arr(S(
        F("TopicName", "string"),
        F("TopicId", "uuid"),
        F("Partitions", Arr(S(F("PartitionIndex", "int32"), F("ErrorCode", "int16"), nf("ErrorMessage", "string")))),
    ))),
))

# DeleteShareGroupOffsets v0 (flexible 0+).
LAYOUTS[(92, 0)] = ("DeleteShareGroupOffsets", S(
    F("GroupId", "string"),
    F("Topics", Arr(S(F("TopicName", "string")))),
), S(
    F("ThrottleTimeMs", "int32"),
    F("ErrorCode", "int16"),
    nf("ErrorMessage", "string"),
    F("Responses", Arr(S(
        F("TopicName", "string"),
        F("TopicId", "uuid"),
        F("ErrorCode", "int16"),
        nf("ErrorMessage", "string"),
    ))),
))

# StreamsGroupTopologyDescriptionUpdate v0 (flexible 0+). TopologyDescription is NOT nullable here.
LAYOUTS[(93, 0)] = ("StreamsGroupTopologyDescriptionUpdate", S(
    F("GroupId", "string"),
    F("MemberId", "string"),
    F("TopologyEpoch", "int32"),
    F("TopologyDescription", STREAMS_TOPOLOGY_DESCRIPTION),
), S(
    F("ThrottleTimeMs", "int32"),
    F("ErrorCode", "int16"),
    nf("ErrorMessage", "string"),
))

# UnregisterController v0 (flexible 0+).
LAYOUTS[(94, 0)] = ("UnregisterController", S(
    F("ControllerId", "int32"),
), S(
    F("ThrottleTimeMs", "int32"),
    F("ErrorCode", "int16"),
    nf("ErrorMessage", "string"),
))

API_VERSIONS = 18


# =============================================================================================== encoder
# Flexible encoding only: every layout above is a flexible version.

def encode_value(w, type_, nullable, v, path):
    if v is None:
        if not nullable:
            raise ValueError("%s: null in a non-nullable field" % path)
        if isinstance(type_, S):
            w.pack(">b", -1)
        else:
            w.uvarint(0)  # COMPACT_NULLABLE_STRING / _BYTES / records / COMPACT array: 0 = null
        return
    if isinstance(type_, S):
        if nullable:
            w.pack(">b", 1)
        encode_struct(w, type_, v, path)
    elif isinstance(type_, Arr):
        w.uvarint(len(v) + 1)
        for i, item in enumerate(v):
            encode_value(w, type_.elem, False, item, "%s[%d]" % (path, i))
    elif type_ in PRIMITIVES:
        w.pack(PRIMITIVES[type_], v)
    elif type_ == "bool":
        assert isinstance(v, bool), path
        w.pack(">b", 1 if v else 0)
    elif type_ == "uuid":
        assert isinstance(v, uuid.UUID), path
        w.raw(v.bytes)
    elif type_ == "string":
        data = v.encode("utf-8")
        w.uvarint(len(data) + 1)
        w.raw(data)
    elif type_ in ("bytes", "records"):
        w.uvarint(len(v) + 1)
        w.raw(v)
    else:
        raise ValueError("%s: unknown type %r" % (path, type_))


def encode_struct(w, layout, value, path):
    names = {f.name for f in layout.fields}
    extra = set(value) - names
    if extra:
        raise ValueError("%s: fields not in the layout: %s" % (path, sorted(extra)))
    for f in layout.fields:
        if f.tag is None:
            if f.name not in value:
                raise ValueError("%s: missing field %s" % (path, f.name))
            encode_value(w, f.type, f.nullable, value[f.name], path + "." + f.name)
    tagged = sorted((f for f in layout.fields if f.tag is not None and f.name in value), key=lambda f: f.tag)
    w.uvarint(len(tagged))
    for f in tagged:
        sub = Writer()
        encode_value(sub, f.type, f.nullable, value[f.name], path + "." + f.name)
        w.uvarint(f.tag)
        w.uvarint(len(sub.buf))
        w.raw(sub.buf)


def encode_body(layout, value, path):
    w = Writer()
    encode_struct(w, layout, value, path)
    return w.bytes()


# =============================================================================================== decoder
# Walks the same layouts, but reads: a separate implementation of every rule, so that an encoder slip (a
# length off by one, a missing tag buffer, a wrong marker) shows up as bytes left over or missing.

class DecodeContext:
    def __init__(self):
        self.batches = 0
        self.records = 0


def decode_value(r, type_, nullable, path, ctx):
    if isinstance(type_, S):
        if nullable:
            marker = r.unpack(">b", path + " (null marker)")
            if marker < 0:
                return None
            if marker != 1:
                raise DecodeError("%s: nullable-struct marker %d, expected -1 or 1" % (path, marker))
        return decode_struct(r, type_, path, ctx)
    if isinstance(type_, Arr):
        n = r.uvarint(path + " (array length)") - 1
        if n < 0:
            if not nullable:
                raise DecodeError("%s: null in a non-nullable array" % path)
            return None
        return [decode_value(r, type_.elem, False, "%s[%d]" % (path, i), ctx) for i in range(n)]
    if type_ in PRIMITIVES:
        return r.unpack(PRIMITIVES[type_], path)
    if type_ == "bool":
        b = r.unpack(">b", path)
        if b not in (0, 1):
            raise DecodeError("%s: bool byte %d" % (path, b))
        return b == 1
    if type_ == "uuid":
        return uuid.UUID(bytes=r.take(16, path))
    if type_ in ("string", "bytes", "records"):
        n = r.uvarint(path + " (length)") - 1
        if n < 0:
            if not nullable:
                raise DecodeError("%s: null in a non-nullable field" % path)
            return None
        data = r.take(n, path)
        if type_ == "string":
            return data.decode("utf-8")
        if type_ == "records":
            b, c = check_record_batches(data, path)
            ctx.batches += b
            ctx.records += c
        return data
    raise DecodeError("%s: unknown type %r" % (path, type_))


def decode_struct(r, layout, path, ctx):
    out = {}
    for f in layout.fields:
        if f.tag is None:
            out[f.name] = decode_value(r, f.type, f.nullable, path + "." + f.name, ctx)
    by_tag = {f.tag: f for f in layout.fields if f.tag is not None}
    last = -1
    for _ in range(r.uvarint(path + " (tag count)")):
        tag = r.uvarint(path + " (tag)")
        size = r.uvarint(path + " (tag size)")
        if tag <= last:
            raise DecodeError("%s: tag %d after tag %d (tags must increase)" % (path, tag, last))
        last = tag
        if tag not in by_tag:
            raise DecodeError("%s: unknown tag %d" % (path, tag))
        r.need(size, "%s tag %d" % (path, tag))
        f = by_tag[tag]
        sub = Reader(r.buf, r.pos, r.pos + size)
        out[f.name] = decode_value(sub, f.type, f.nullable, path + "." + f.name, ctx)
        if sub.left():
            raise DecodeError("%s: tagged field %s declared %d bytes, used %d"
                              % (path, f.name, size, size - sub.left()))
        r.pos += size
    return out


# =============================================================================================== framing

def request_frame(api_key, version, correlation_id, client_id, body):
    h = Writer()
    h.pack(">h", api_key)
    h.pack(">h", version)
    h.pack(">i", correlation_id)
    if client_id is None:
        h.pack(">h", -1)
    else:
        cid = client_id.encode()
        h.pack(">h", len(cid))  # classic int16-length string even in header v2
        h.raw(cid)
    h.uvarint(0)  # header v2 tag buffer (empty)
    payload = h.bytes() + body
    return struct.pack(">i", len(payload)) + payload


def response_frame(api_key, correlation_id, body):
    h = Writer()
    h.pack(">i", correlation_id)
    if api_key != API_VERSIONS:
        h.uvarint(0)  # response header v1 tag buffer (empty); ApiVersions keeps header v0
    payload = h.bytes() + body
    return struct.pack(">i", len(payload)) + payload


def parse_request(frame, ctx):
    """Returns (api_key, version, correlation_id, client_id, decoded body)."""
    r = Reader(frame)
    size = r.unpack(">i", "size")
    if size != len(frame) - 4:
        raise DecodeError("size prefix %d, frame has %d bytes after it" % (size, len(frame) - 4))
    api_key = r.unpack(">h", "api_key")
    version = r.unpack(">h", "api_version")
    corr = r.unpack(">i", "correlation_id")
    n = r.unpack(">h", "client_id length")
    client_id = None if n < 0 else r.take(n, "client_id").decode()
    header_tags = r.uvarint("request header tag count")
    for _ in range(header_tags):
        r.uvarint("header tag")
        r.take(r.uvarint("header tag size"), "header tag value")
    if (api_key, version) not in LAYOUTS:
        raise DecodeError("no layout for api key %d v%d" % (api_key, version))
    name, layout, _ = LAYOUTS[(api_key, version)]
    body = decode_struct(r, layout, "%sRequest" % name, ctx)
    if r.left():
        raise DecodeError("%s v%d request: %d bytes left over" % (name, version, r.left()))
    return api_key, version, corr, client_id, body


def parse_response(api_key, version, frame, ctx):
    """Returns (correlation_id, decoded body)."""
    r = Reader(frame)
    size = r.unpack(">i", "size")
    if size != len(frame) - 4:
        raise DecodeError("size prefix %d, frame has %d bytes after it" % (size, len(frame) - 4))
    corr = r.unpack(">i", "correlation_id")
    if api_key != API_VERSIONS:
        for _ in range(r.uvarint("response header tag count")):
            r.uvarint("header tag")
            r.take(r.uvarint("header tag size"), "header tag value")
    if (api_key, version) not in LAYOUTS:
        raise DecodeError("no layout for api key %d v%d" % (api_key, version))
    name, _, layout = LAYOUTS[(api_key, version)]
    body = decode_struct(r, layout, "%sResponse" % name, ctx)
    if r.left():
        raise DecodeError("%s v%d response: %d bytes left over" % (name, version, r.left()))
    return corr, body


# =============================================================================================== values
# Realistic values, deterministic. Fields carry values other than their defaults wherever that is still
# plausible. The exceptions are what a healthy cluster actually sends: error code 0 and a null error message on
# success, IsInternal / IsClassic / ShutdownApplication false, PreferredReadReplica -1, EndpointType 1 (brokers),
# MemberEpoch 0 in the joining heartbeat (required to send a Topology). Nullable fields are null in at least one
# place where a real peer would send null (Metadata topic Name, Fetch Records / AbortedTransactions, Topology of
# an unknown streams group, DescribeShareGroupOffsets Topics = all topics, a broker's Rack).

T0 = 1787391000000  # 2026-08-22T09:30:00Z in ms
CLUSTER_ID = "4L6g3nShT-eMCtK--X86sw"
ORDERS_ID = uuid.UUID("5b3f9d2e-7c41-4a8e-9f06-3d1c8e2b7a94")
PAYMENTS_ID = uuid.UUID("c1e07a55-2b9d-4f63-8a1e-6f4d2c9b0e37")
INVENTORY_ID = uuid.UUID("0e9a4c71-d3b8-4e25-b6f0-91a7c35e8d42")
LOG_DIR_ID = uuid.UUID("a7d2e9c4-61b3-4f08-9e5d-2c8b7f1a4e60")
ZERO_UUID = uuid.UUID(int=0)


def kafka_uuid_string(u):
    """Kafka's Uuid.toString(): URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(u.bytes).rstrip(b"=").decode()


def broker_host(n):
    return "kafka-%d.kafka-headless.streaming.svc.cluster.local" % n


RACK = {1: "use1-az1", 2: "use1-az2", 3: "use1-az3", 4: "use1-az1"}

# Error codes used (from Kafka's Errors.java).
NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER = 0, 1, 3, 5, 6
COORDINATOR_NOT_AVAILABLE, GROUP_ID_NOT_FOUND, INVALID_RECORD = 15, 69, 87

# Authorized-operations bitfields (bit = AclOperation code).
TOPIC_OPS = sum(1 << b for b in (3, 4, 5, 6, 7, 8, 10, 11))  # READ WRITE CREATE DELETE ALTER DESCRIBE D/A_CONFIGS
GROUP_OPS = sum(1 << b for b in (3, 6, 8))  # READ DELETE DESCRIBE
CLUSTER_OPS = sum(1 << b for b in (5, 7, 8, 9, 10, 11, 12, 13, 14))


def produce_batches():
    """The three batches the Produce request carries: one transaction (producer 4001, epoch 3)."""
    def order(i, customer):
        return (i * 3, ("order-%d" % (52100 + i)).encode(),
                ('{"order":%d,"customer":"%s","total_cents":%d}' % (52100 + i, customer, 1999 + 250 * i)).encode(),
                [("traceparent", ("00-4bf92f3577b34da6a3ce929d0e0e%04d-00f067aa0ba902b7-01" % i).encode()),
                 ("source", b"checkout-svc")])
    return [
        record_batch(0, -1, T0 + 120, [order(0, "c-881"), order(1, "c-112")], producer_id=4001, producer_epoch=3,
                     base_sequence=418, transactional=True),
        record_batch(0, -1, T0 + 121, [order(2, "c-409")], producer_id=4001, producer_epoch=3, base_sequence=77,
                     transactional=True),
        # payments is compacted and these records have no key: the broker rejects the batch (INVALID_RECORD).
        record_batch(0, -1, T0 + 122, [(0, None, b'{"order":52100,"amount_cents":1999,"method":"card"}',
                                        [("idempotency-key", b"7e1f0c2a"), ("retry", None)]),
                                       (2, None, b'{"order":52101,"amount_cents":2249,"method":"sepa"}', [])],
                     producer_id=4001, producer_epoch=3, base_sequence=9, transactional=True),
    ]


def fetch_batch():
    """What a follower gets back from the leader of orders-0: one idempotent, non-transactional batch."""
    return record_batch(1200, 7, T0 - 5000, [
        (0, b"order-52001", b'{"order":52001,"customer":"c-301","total_cents":4599}', [("source", b"checkout-svc")]),
        (14, b"order-52002", b'{"order":52002,"customer":"c-077","total_cents":1250}', []),
        (29, None, b'{"heartbeat":true}', [("source", b"monitor")]),
    ], producer_id=3990, producer_epoch=0, base_sequence=301)


def endpoint(n, port=9092):
    return {"NodeId": n, "Host": broker_host(n), "Port": port, "Rack": RACK[n]}


# Subtopology ids are what Kafka Streams generates: the subtopology index as a string.
STREAMS_TOPOLOGY_DESCRIPTION_VALUE = {
    "Subtopologies": [
        {"SubtopologyId": "0", "Nodes": [
            {"Name": "KSTREAM-SOURCE-0000000000", "NodeType": 1, "SourceTopics": ["orders"], "SinkTopic": None,
             "Stores": [], "Successors": ["KSTREAM-KEY-SELECT-0000000001"]},
            {"Name": "KSTREAM-SINK-0000000003", "NodeType": 3, "SourceTopics": [],
             "SinkTopic": "orders-app-by-customer-repartition", "Stores": [], "Successors": []},
        ]},
        {"SubtopologyId": "1", "Nodes": [
            {"Name": "KSTREAM-AGGREGATE-0000000005", "NodeType": 2, "SourceTopics": [], "SinkTopic": None,
             "Stores": ["order-totals-store"], "Successors": ["KTABLE-TOSTREAM-0000000006"]},
        ]},
    ],
    "GlobalStores": [
        {"Source": {"Name": "KSTREAM-SOURCE-0000000007", "NodeType": 1, "SourceTopics": ["customers"],
                    "SinkTopic": None, "Stores": [], "Successors": ["KTABLE-SOURCE-0000000008"]},
         "Processor": {"Name": "KTABLE-SOURCE-0000000008", "NodeType": 2, "SourceTopics": [], "SinkTopic": None,
                       "Stores": ["customers-global-store"], "Successors": []}},
    ],
}

CHANGELOG = {"Name": "orders-app-order-totals-store-changelog", "Partitions": 0, "ReplicationFactor": 3,
             "TopicConfigs": [{"Key": "cleanup.policy", "Value": "compact"},
                              {"Key": "min.insync.replicas", "Value": "2"}]}
REPARTITION = {"Name": "orders-app-by-customer-repartition", "Partitions": 6, "ReplicationFactor": 3,
               "TopicConfigs": [{"Key": "retention.ms", "Value": "-1"}]}
STREAMS_MEMBER = "Hq3v0bS7TAi1VZk9x2mPQw"
STREAMS_PROCESS = "0f6c3f9a-52d4-4b8e-a1c7-9e2d4b6f8a13"
STREAMS_IQ = {"Host": "orders-app-0.orders-app.streaming.svc", "Port": 50051}  # > 32767: uint16 matters


def frames():
    """[(connection, comment, api_key, version, correlation_id, client_id, request body, response body)]."""
    out = []

    def add(conn, comment, key, version, corr, client_id, req, res):
        out.append((conn, comment, key, version, corr, client_id, req, res))

    # ---------------------------------------------------------------- connection 0: admin client to broker 1
    admin = "adminclient-1"
    add(0, "ApiVersions v5: KIP-1242 ClusterId/NodeId in the request; response header v0; all four tagged fields",
        18, 5, 1, admin, {
            "ClientSoftwareName": "apache-kafka-java", "ClientSoftwareVersion": "4.2.0",
            "ClusterId": CLUSTER_ID, "NodeId": 1,
        }, {
            "ErrorCode": NONE,
            "ApiKeys": [{"ApiKey": k, "MinVersion": lo, "MaxVersion": hi} for k, lo, hi in (
                (0, 3, 13), (1, 4, 18), (3, 0, 13), (10, 0, 6), (18, 0, 5), (60, 0, 2), (88, 0, 1), (89, 0, 1),
                (90, 0, 1), (91, 0, 0), (92, 0, 0), (93, 0, 0), (94, 0, 0))],
            "ThrottleTimeMs": 9,
            "SupportedFeatures": [{"Name": "kraft.version", "MinVersion": 0, "MaxVersion": 1},
                                  {"Name": "metadata.version", "MinVersion": 7, "MaxVersion": 29}],
            "FinalizedFeaturesEpoch": 1297,
            "FinalizedFeatures": [{"Name": "kraft.version", "MaxVersionLevel": 1, "MinVersionLevel": 1},
                                  {"Name": "metadata.version", "MaxVersionLevel": 29, "MinVersionLevel": 29}],
            # Only a KRaft controller sets this; present here so that a tagged bool is covered.
            "ZkMigrationReady": True,
        })
    add(0, "Metadata v13: one topic by name (zero TopicId), one by TopicId (null name); v13 top-level ErrorCode",
        3, 13, 2, admin, {
            "Topics": [{"TopicId": ZERO_UUID, "Name": "orders"}, {"TopicId": PAYMENTS_ID, "Name": None}],
            "AllowAutoTopicCreation": False,
            "IncludeTopicAuthorizedOperations": True,
        }, {
            "ThrottleTimeMs": 12,
            "Brokers": [endpoint(1), endpoint(2)],
            "ClusterId": CLUSTER_ID,
            "ControllerId": 2,
            "Topics": [
                {"ErrorCode": NONE, "Name": "orders", "TopicId": ORDERS_ID, "IsInternal": False, "Partitions": [
                    {"ErrorCode": NONE, "PartitionIndex": 0, "LeaderId": 1, "LeaderEpoch": 7,
                     "ReplicaNodes": [1, 2, 3], "IsrNodes": [1, 2, 3], "OfflineReplicas": []},
                    {"ErrorCode": NONE, "PartitionIndex": 1, "LeaderId": 2, "LeaderEpoch": 9,
                     "ReplicaNodes": [2, 3, 1], "IsrNodes": [2, 1], "OfflineReplicas": [3]},
                ], "TopicAuthorizedOperations": TOPIC_OPS},
                {"ErrorCode": NONE, "Name": "payments", "TopicId": PAYMENTS_ID, "IsInternal": False, "Partitions": [
                    {"ErrorCode": LEADER_NOT_AVAILABLE, "PartitionIndex": 0, "LeaderId": -1, "LeaderEpoch": 4,
                     "ReplicaNodes": [3], "IsrNodes": [], "OfflineReplicas": [3]},
                ], "TopicAuthorizedOperations": TOPIC_OPS & ~(1 << 6)},
            ],
            "ErrorCode": NONE,
        })
    add(0, "DescribeCluster v2: IncludeFencedBrokers; one fenced broker",
        60, 2, 3, admin, {
            "IncludeClusterAuthorizedOperations": True, "EndpointType": 1, "IncludeFencedBrokers": True,
        }, {
            "ThrottleTimeMs": 3, "ErrorCode": NONE, "ErrorMessage": None, "EndpointType": 1,
            "ClusterId": CLUSTER_ID, "ControllerId": 2,
            "Brokers": [
                {"BrokerId": 1, "Host": broker_host(1), "Port": 9092, "Rack": RACK[1], "IsFenced": False},
                {"BrokerId": 4, "Host": broker_host(4), "Port": 9092, "Rack": None, "IsFenced": True},
            ],
            "ClusterAuthorizedOperations": CLUSTER_OPS,
        })
    share_keys = ["share-orders:%s:%d" % (kafka_uuid_string(ORDERS_ID), p) for p in (0, 1)]
    add(0, "FindCoordinator v6: KeyType 2 (share), batched keys 'group:topicId:partition'; one not available",
        10, 6, 4, admin, {
            "KeyType": 2, "CoordinatorKeys": share_keys,
        }, {
            "ThrottleTimeMs": 1,
            "Coordinators": [
                {"Key": share_keys[0], "NodeId": 2, "Host": broker_host(2), "Port": 9092, "ErrorCode": NONE,
                 "ErrorMessage": None},
                {"Key": share_keys[1], "NodeId": -1, "Host": "", "Port": -1, "ErrorCode": COORDINATOR_NOT_AVAILABLE,
                 "ErrorMessage": "The coordinator is not available."},
            ],
        })
    add(0, "DescribeShareGroupOffsets v1: second group asks for all topics (null Topics); v1 Lag",
        90, 1, 5, admin, {
            "Groups": [
                {"GroupId": "share-orders", "Topics": [{"TopicName": "orders", "Partitions": [0, 1]}]},
                {"GroupId": "share-audit", "Topics": None},
            ],
        }, {
            "ThrottleTimeMs": 2,
            "Groups": [
                {"GroupId": "share-orders", "Topics": [
                    {"TopicName": "orders", "TopicId": ORDERS_ID, "Partitions": [
                        {"PartitionIndex": 0, "StartOffset": 1180, "LeaderEpoch": 7, "Lag": 23,
                         "ErrorCode": NONE, "ErrorMessage": None},
                        {"PartitionIndex": 1, "StartOffset": 977, "LeaderEpoch": 9, "Lag": 4,
                         "ErrorCode": NONE, "ErrorMessage": None},
                    ]}], "ErrorCode": NONE, "ErrorMessage": None},
                {"GroupId": "share-audit", "Topics": [], "ErrorCode": GROUP_ID_NOT_FOUND,
                 "ErrorMessage": "Group share-audit not found."},
            ],
        })
    add(0, "AlterShareGroupOffsets v0: one partition unknown",
        91, 0, 6, admin, {
            "GroupId": "share-orders",
            "Topics": [{"TopicName": "orders", "Partitions": [{"PartitionIndex": 0, "StartOffset": 1100},
                                                              {"PartitionIndex": 7, "StartOffset": 250}]}],
        }, {
            "ThrottleTimeMs": 4, "ErrorCode": NONE, "ErrorMessage": None,
            "Responses": [{"TopicName": "orders", "TopicId": ORDERS_ID, "Partitions": [
                {"PartitionIndex": 0, "ErrorCode": NONE, "ErrorMessage": None},
                {"PartitionIndex": 7, "ErrorCode": UNKNOWN_TOPIC_OR_PARTITION,
                 "ErrorMessage": "Partition orders-7 does not exist."},
            ]}],
        })
    add(0, "DeleteShareGroupOffsets v0: one topic unknown (zero TopicId)",
        92, 0, 7, admin, {
            "GroupId": "share-orders", "Topics": [{"TopicName": "orders"}, {"TopicName": "orders-retired"}],
        }, {
            "ThrottleTimeMs": 5, "ErrorCode": NONE, "ErrorMessage": None,
            "Responses": [
                {"TopicName": "orders", "TopicId": ORDERS_ID, "ErrorCode": NONE, "ErrorMessage": None},
                {"TopicName": "orders-retired", "TopicId": ZERO_UUID, "ErrorCode": UNKNOWN_TOPIC_OR_PARTITION,
                 "ErrorMessage": "Topic orders-retired does not exist."},
            ],
        })
    add(0, "StreamsGroupDescribe v1: topology description AVAILABLE (3), assignor name; second group not found",
        89, 1, 8, admin, {
            "GroupIds": ["orders-app", "fraud-scorer"], "IncludeAuthorizedOperations": True,
            "IncludeTopologyDescription": True,
        }, {
            "ThrottleTimeMs": 6,
            "Groups": [
                {"ErrorCode": NONE, "ErrorMessage": None, "GroupId": "orders-app", "GroupState": "Stable",
                 "GroupEpoch": 6, "AssignmentEpoch": 6,
                 "Topology": {"Epoch": 2, "Subtopologies": [
                     {"SubtopologyId": "0", "SourceTopics": ["orders"],
                      "RepartitionSinkTopics": ["orders-app-by-customer-repartition"],
                      "StateChangelogTopics": [], "RepartitionSourceTopics": []},
                     {"SubtopologyId": "1", "SourceTopics": [], "RepartitionSinkTopics": [],
                      "StateChangelogTopics": [CHANGELOG], "RepartitionSourceTopics": [REPARTITION]},
                 ]},
                 "Members": [{
                     "MemberId": STREAMS_MEMBER, "MemberEpoch": 6, "InstanceId": "orders-app-0",
                     "RackId": "use1-az1", "ClientId": "orders-app-%s-StreamThread-1-consumer" % STREAMS_PROCESS,
                     "ClientHost": "/10.42.3.17", "TopologyEpoch": 2, "ProcessId": STREAMS_PROCESS,
                     "UserEndpoint": STREAMS_IQ,
                     "ClientTags": [{"Key": "zone", "Value": "use1-az1"}],
                     "TaskOffsets": [{"SubtopologyId": "1", "Partition": 0, "Offset": 8812}],
                     "TaskEndOffsets": [{"SubtopologyId": "1", "Partition": 0, "Offset": 8840}],
                     "Assignment": {"ActiveTasks": [{"SubtopologyId": "0", "Partitions": [0, 1]}],
                                    "StandbyTasks": [{"SubtopologyId": "1", "Partitions": [3]}],
                                    "WarmupTasks": [{"SubtopologyId": "1", "Partitions": [0]}]},
                     "TargetAssignment": {"ActiveTasks": [{"SubtopologyId": "0", "Partitions": [0, 1]},
                                                          {"SubtopologyId": "1", "Partitions": [0]}],
                                          "StandbyTasks": [{"SubtopologyId": "1", "Partitions": [3]}],
                                          "WarmupTasks": []},
                     "IsClassic": False,
                 }],
                 "AuthorizedOperations": GROUP_OPS,
                 "TopologyDescription": STREAMS_TOPOLOGY_DESCRIPTION_VALUE,
                 "TopologyDescriptionStatus": 3,
                 "AssignorName": "sticky"},
                {"ErrorCode": GROUP_ID_NOT_FOUND, "ErrorMessage": "Group fraud-scorer not found.",
                 "GroupId": "fraud-scorer", "GroupState": "Dead", "GroupEpoch": -1, "AssignmentEpoch": -1,
                 "Topology": None, "Members": [], "AuthorizedOperations": -2147483648,
                 "TopologyDescription": None, "TopologyDescriptionStatus": 0, "AssignorName": None},
            ],
        })

    # ---------------------------------------------------------------- connection 1: transactional producer
    b0, b1, b2 = produce_batches()
    add(1, "Produce v13: TopicIds, 3 transactional RecordBatch v2 (CRC-32C); response: success, "
           "NOT_LEADER_OR_FOLLOWER with tagged CurrentLeader + tagged NodeEndpoints, INVALID_RECORD with RecordErrors",
        0, 13, 11, "producer-orders-txn-7", {
            "TransactionalId": "orders-txn-7", "Acks": -1, "TimeoutMs": 30000,
            "TopicData": [
                {"TopicId": ORDERS_ID, "PartitionData": [{"Index": 0, "Records": b0}, {"Index": 1, "Records": b1}]},
                {"TopicId": PAYMENTS_ID, "PartitionData": [{"Index": 2, "Records": b2}]},
            ],
        }, {
            "Responses": [
                {"TopicId": ORDERS_ID, "PartitionResponses": [
                    {"Index": 0, "ErrorCode": NONE, "BaseOffset": 1203, "LogAppendTimeMs": T0 + 131,
                     "LogStartOffset": 1000, "RecordErrors": [], "ErrorMessage": None},
                    {"Index": 1, "ErrorCode": NOT_LEADER_OR_FOLLOWER, "BaseOffset": -1, "LogAppendTimeMs": -1,
                     "LogStartOffset": -1, "RecordErrors": [],
                     "ErrorMessage": "This server is not the leader for that topic-partition.",
                     "CurrentLeader": {"LeaderId": 3, "LeaderEpoch": 10}},
                ]},
                {"TopicId": PAYMENTS_ID, "PartitionResponses": [
                    {"Index": 2, "ErrorCode": INVALID_RECORD, "BaseOffset": -1, "LogAppendTimeMs": -1,
                     "LogStartOffset": 0,
                     "RecordErrors": [
                         {"BatchIndex": 0, "BatchIndexErrorMessage":
                          "Compacted topic cannot accept message without key in topic partition payments-2."},
                         {"BatchIndex": 1, "BatchIndexErrorMessage": None}],
                     "ErrorMessage": "One or more records have been rejected"},
                ]},
            ],
            "ThrottleTimeMs": 7,
            "NodeEndpoints": [endpoint(3)],
        })

    # ---------------------------------------------------------------- connection 2: fetcher
    add(2, "Fetch v18: follower-style fetch (tagged ClusterId, ReplicaState, ReplicaDirectoryId, HighWatermark) "
           "with consumer-style options (read_committed, rack) so every field is non-default",
        1, 18, 21, "broker-2-fetcher-0", {
            "ClusterId": CLUSTER_ID,
            "ReplicaState": {"ReplicaId": 2, "ReplicaEpoch": 57},
            "MaxWaitMs": 500, "MinBytes": 1, "MaxBytes": 10485760, "IsolationLevel": 1,
            "SessionId": 1638421, "SessionEpoch": 12,
            "Topics": [
                {"TopicId": ORDERS_ID, "Partitions": [
                    {"Partition": 0, "CurrentLeaderEpoch": 7, "FetchOffset": 1200, "LastFetchedEpoch": 7,
                     "LogStartOffset": 1000, "PartitionMaxBytes": 1048576, "ReplicaDirectoryId": LOG_DIR_ID,
                     "HighWatermark": 1200},
                    {"Partition": 1, "CurrentLeaderEpoch": 9, "FetchOffset": 977, "LastFetchedEpoch": 9,
                     "LogStartOffset": 900, "PartitionMaxBytes": 1048576, "ReplicaDirectoryId": LOG_DIR_ID},
                ]},
                {"TopicId": PAYMENTS_ID, "Partitions": [
                    {"Partition": 0, "CurrentLeaderEpoch": 4, "FetchOffset": 310, "LastFetchedEpoch": 3,
                     "LogStartOffset": 0, "PartitionMaxBytes": 1048576, "HighWatermark": 305},
                    {"Partition": 2, "CurrentLeaderEpoch": 4, "FetchOffset": 12, "LastFetchedEpoch": 4,
                     "LogStartOffset": 0, "PartitionMaxBytes": 1048576, "HighWatermark": 12},
                ]},
            ],
            "ForgottenTopicsData": [{"TopicId": INVENTORY_ID, "Partitions": [0, 4]}],
            "RackId": "use1-az2",
        }, {
            "ThrottleTimeMs": 11, "ErrorCode": NONE, "SessionId": 1638421,
            "Responses": [
                {"TopicId": ORDERS_ID, "Partitions": [
                    {"PartitionIndex": 0, "ErrorCode": NONE, "HighWatermark": 1203, "LastStableOffset": 1203,
                     "LogStartOffset": 1000,
                     "AbortedTransactions": [{"ProducerId": 4001, "FirstOffset": 1188}],
                     "PreferredReadReplica": -1, "Records": fetch_batch()},
                    {"PartitionIndex": 1, "ErrorCode": NOT_LEADER_OR_FOLLOWER, "HighWatermark": -1,
                     "LastStableOffset": -1, "LogStartOffset": -1,
                     "CurrentLeader": {"LeaderId": 3, "LeaderEpoch": 10},
                     "AbortedTransactions": None, "PreferredReadReplica": -1, "Records": None},
                ]},
                {"TopicId": PAYMENTS_ID, "Partitions": [
                    {"PartitionIndex": 0, "ErrorCode": NONE, "HighWatermark": 305, "LastStableOffset": 305,
                     "LogStartOffset": 0, "DivergingEpoch": {"Epoch": 3, "EndOffset": 301},
                     "AbortedTransactions": [], "PreferredReadReplica": -1, "Records": b""},
                    {"PartitionIndex": 2, "ErrorCode": OFFSET_OUT_OF_RANGE, "HighWatermark": 40,
                     "LastStableOffset": 40, "LogStartOffset": 20, "SnapshotId": {"EndOffset": 20, "Epoch": 4},
                     "AbortedTransactions": None, "PreferredReadReplica": -1, "Records": None},
                ]},
            ],
            "NodeEndpoints": [endpoint(3)],
        })

    # ---------------------------------------------------------------- connection 3: Kafka Streams member
    streams_client = "orders-app-%s-StreamThread-1-consumer" % STREAMS_PROCESS
    add(3, "StreamsGroupHeartbeat v1: joining member (MemberEpoch 0) with full Topology (nullable struct) "
           "and every nullable field set; response: MISSING_CLIENT_TAGS status (v1), TopologyDescriptionRequired",
        88, 1, 31, streams_client, {
            "GroupId": "orders-app", "MemberId": STREAMS_MEMBER, "MemberEpoch": 0, "EndpointInformationEpoch": 5,
            "InstanceId": "orders-app-0", "RackId": "use1-az1", "RebalanceTimeoutMs": 300000,
            "Topology": {"Epoch": 2, "Subtopologies": [
                {"SubtopologyId": "0", "SourceTopics": ["orders"], "SourceTopicRegex": ["orders-archive-.*"],
                 "StateChangelogTopics": [], "RepartitionSinkTopics": ["orders-app-by-customer-repartition"],
                 "RepartitionSourceTopics": [], "CopartitionGroups": []},
                {"SubtopologyId": "1", "SourceTopics": ["customers"], "SourceTopicRegex": [],
                 "StateChangelogTopics": [CHANGELOG], "RepartitionSinkTopics": [],
                 "RepartitionSourceTopics": [REPARTITION],
                 "CopartitionGroups": [{"SourceTopics": [0], "SourceTopicRegex": [], "RepartitionSourceTopics": [0]}]},
            ]},
            "ActiveTasks": [{"SubtopologyId": "0", "Partitions": [0, 1]}],
            "StandbyTasks": [{"SubtopologyId": "1", "Partitions": [3]}],
            "WarmupTasks": [{"SubtopologyId": "1", "Partitions": [0]}],
            "ProcessId": STREAMS_PROCESS,
            "UserEndpoint": STREAMS_IQ,
            "ClientTags": [{"Key": "zone", "Value": "use1-az1"}, {"Key": "cluster", "Value": "blue"}],
            "TaskOffsets": [{"SubtopologyId": "1", "Partition": 0, "Offset": 8812}],
            "TaskEndOffsets": [{"SubtopologyId": "1", "Partition": 0, "Offset": 8840}],
            "ShutdownApplication": False,
        }, {
            "ThrottleTimeMs": 8, "ErrorCode": NONE, "ErrorMessage": None,
            "MemberId": STREAMS_MEMBER, "MemberEpoch": 7, "HeartbeatIntervalMs": 5000,
            "TaskOffsetIntervalMs": 60000, "AcceptableRecoveryLag": 10000,
            "Status": [{"StatusCode": 6,
                        "StatusDetail": "Client tags [rack] required for standby assignment are missing."}],
            "ActiveTasks": [{"SubtopologyId": "0", "Partitions": [0, 1]}, {"SubtopologyId": "1", "Partitions": [0]}],
            "StandbyTasks": [{"SubtopologyId": "1", "Partitions": [3]}],
            "WarmupTasks": [],
            "TopologyDescriptionRequired": True,
            "EndpointInformationEpoch": 6,
            "PartitionsByUserEndpoint": [{
                "UserEndpoint": STREAMS_IQ,
                "ActivePartitions": [{"Topic": "orders", "Partitions": [0, 1]},
                                     {"Topic": "orders-app-by-customer-repartition", "Partitions": [0]}],
                "StandbyPartitions": [{"Topic": "orders-app-by-customer-repartition", "Partitions": [3]}],
            }],
        })
    add(3, "StreamsGroupTopologyDescriptionUpdate v0: the description the heartbeat asked for",
        93, 0, 32, streams_client, {
            "GroupId": "orders-app", "MemberId": STREAMS_MEMBER, "TopologyEpoch": 2,
            "TopologyDescription": STREAMS_TOPOLOGY_DESCRIPTION_VALUE,
        }, {
            "ThrottleTimeMs": 2, "ErrorCode": NONE, "ErrorMessage": None,
        })

    # ---------------------------------------------------------------- connection 4: admin client to a controller
    add(4, "UnregisterController v0 (sent to the controller listener)",
        94, 0, 41, "adminclient-2", {
            "ControllerId": 3002,
        }, {
            "ThrottleTimeMs": 1, "ErrorCode": NONE, "ErrorMessage": None,
        })
    return out


# =============================================================================================== file

def build():
    """Returns (text of the .frames file, [(api_key, version, request dict, response dict)])."""
    lines = [
        "# Kafka frames for the newest API versions in Kafka's August 2026 message schemas (trunk 2026-08-22).",
        "# HAND-ENCODED from those schemas (layouts hard-coded in newest_frames.py, independent of the Swift codec),",
        "# because no broker or client available to this project speaks these versions. Not a recording.",
        "# Made by:",
        "#   " + COMMAND,
        "# Check:  " + COMMAND + " --check Tests/KafkaCodecTests/Fixtures/newest-versions.frames",
        "# Format: 'req <hex>' / 'res <api_key> <api_version> <hex>', hex of whole frame incl. size.",
        "# Request header v2 (classic int16 client id + tag buffer); response header v1, except ApiVersions (v0).",
        "# tshark 4.0.17 (Debian 12) decodes none of these frames (tried with -d tcp.port==9092,kafka): it marks",
        "# ApiVersions v5, Metadata v13, Produce v13, Fetch v18 and FindCoordinator v6 'Unsupported API version'",
        "# (it knows up to ApiVersions v3, Metadata v9, Produce v8, Fetch v11, FindCoordinator v3) and keys 60 and",
        "# 88-94 'Unknown API key'. Nothing here depends on tshark.",
    ]
    expected = []
    conn = None
    for c, comment, key, version, corr, client_id, req, res in frames():
        name, req_layout, res_layout = LAYOUTS[(key, version)]
        if c != conn:
            lines.append("# connection %d" % c)
            conn = c
        lines.append("# %s" % comment)
        lines.append("req " + request_frame(key, version, corr, client_id,
                                            encode_body(req_layout, req, name + "Request")).hex())
        res_frame = response_frame(key, corr, encode_body(res_layout, res, name + "Response"))
        lines.append("res %d %d %s" % (key, version, res_frame.hex()))
        expected.append((key, version, req, res))
    return "\n".join(lines) + "\n", expected


def load(path):
    conns, cur = [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("# connection "):
                cur = []
                conns.append((int(line.split()[-1]), cur))
            elif line.startswith("req ") or line.startswith("res "):
                if cur is None:
                    raise DecodeError("line %d: frame before any '# connection N'" % n)
                words = line.split(" ")
                if words[0] == "req" and len(words) == 2:
                    cur.append((n, "req", None, None, bytes.fromhex(words[1])))
                elif words[0] == "res" and len(words) == 4:
                    cur.append((n, "res", int(words[1]), int(words[2]), bytes.fromhex(words[3])))
                else:
                    raise DecodeError("line %d: malformed frame line" % n)
            elif line and not line.startswith("#"):
                raise DecodeError("line %d: not a comment or frame line" % n)
    return conns


def check(path, expected=None):
    """Decode every frame of a .frames file; returns a list of failure strings (empty = good)."""
    failures = []
    ctx = DecodeContext()
    decoded = []
    try:
        conns = load(path)
    except (DecodeError, ValueError) as e:
        return ["%s: %s" % (path, e)]
    print("%s:" % path)
    for conn_id, items in conns:
        pending = {}
        for n, kind, key, version, frame in items:
            try:
                if kind == "req":
                    k, v, corr, client_id, body = parse_request(frame, ctx)
                    if corr in pending:
                        raise DecodeError("correlation id %d reused while in flight" % corr)
                    pending[corr] = (k, v, body)
                    print("  conn %d line %3d  req %-38s key %2d v%-2d corr %3d  %5d bytes  client %r" % (
                        conn_id, n, LAYOUTS[(k, v)][0], k, v, corr, len(frame), client_id))
                else:
                    corr, body = parse_response(key, version, frame, ctx)
                    if corr not in pending:
                        raise DecodeError("response with correlation id %d matches no request" % corr)
                    rk, rv, req_body = pending.pop(corr)
                    if (rk, rv) != (key, version):
                        raise DecodeError("response says key %d v%d, its request was key %d v%d"
                                          % (key, version, rk, rv))
                    decoded.append((key, version, req_body, body))
                    print("  conn %d line %3d  res %-38s key %2d v%-2d corr %3d  %5d bytes" % (
                        conn_id, n, LAYOUTS[(key, version)][0], key, version, corr, len(frame)))
            except (DecodeError, struct.error, UnicodeDecodeError) as e:
                failures.append("%s line %d: %s" % (path, n, e))
        for corr, (k, v, _) in pending.items():
            failures.append("%s connection %d: request key %d v%d corr %d has no response"
                            % (path, conn_id, k, v, corr))
    print("  %d request/response pairs; %d record batches (%d records), every CRC-32C valid" % (
        len(decoded), ctx.batches, ctx.records))
    if expected is not None and not failures:
        # Decoded values must be exactly what was encoded: catches a decoder and encoder that agree on the byte
        # count but not on the meaning (e.g. two fields swapped).
        if decoded != expected:
            for got, want in zip(decoded, expected):
                if got != want:
                    failures.append("key %d v%d: decoded values differ from the encoded ones" % (want[0], want[1]))
            if len(decoded) != len(expected):
                failures.append("%d pairs decoded, %d encoded" % (len(decoded), len(expected)))
        else:
            print("  decoded values equal the encoded values")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="where to write (default: %(default)s)")
    ap.add_argument("--check", metavar="FILE", help="only decode and verify an existing .frames file")
    args = ap.parse_args()

    text, expected = build()
    if args.check:
        failures = check(args.check)
        with open(args.check) as f:
            same = f.read() == text
        print("  byte-identical to what %s writes now: %s" % (os.path.basename(__file__), "yes" if same else "NO"))
    else:
        with open(args.out, "w") as f:
            f.write(text)
        print("wrote %s (%d bytes)" % (args.out, len(text)))
        failures = check(args.out, expected)
    for msg in failures:
        print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
