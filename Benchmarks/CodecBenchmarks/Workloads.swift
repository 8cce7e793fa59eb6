import KafkaCodec
import NIOCore

/// Synthetic frames shaped like busy production traffic, built with the codec itself.
enum Workloads {
    /// A record batch header (magic 2) followed by `payloadBytes` of opaque record bytes; the codec never opens it.
    static func recordBatch(payloadBytes: Int, records: Int32) -> ByteBuffer {
        var batch = ByteBuffer()
        batch.writeMultipleIntegers(Int64(0), Int32(49 + payloadBytes), Int32(0), Int8(2), UInt32(0))
        batch.writeMultipleIntegers(Int16(0), records - 1, Int64(1_700_000_000_000), Int64(1_700_000_000_000))
        batch.writeMultipleIntegers(Int64(-1), Int16(-1), Int32(-1), records)
        batch.writeRepeatingByte(0x61, count: payloadBytes)
        return batch
    }

    static func structure(_ schema: StructSchema, _ values: [String: KafkaValue]) -> KafkaValue {
        .structure(self.fill(schema, values))
    }

    static func fill(_ schema: StructSchema, _ values: [String: KafkaValue]) -> KafkaStruct {
        KafkaStruct(values: schema.fields.map { values[$0.name] })
    }

    static func elementSchema(_ schema: StructSchema, _ field: String) -> StructSchema {
        guard case .array(.structure(let element))? = schema.fields.first(where: { $0.name == field })?.type else {
            fatalError("\(schema.name) has no array of structs called \(field)")
        }
        return element
    }

    static func requestHeader(_ key: APIKey, _ version: Int16) -> KafkaStruct {
        KafkaStruct(values: [.int16(key.rawValue), .int16(version), .int32(1), .string("bench")])
    }

    /// Produce v9: 8 topics × 16 partitions × 1 batch of 8 KiB, about 1 MiB.
    static func produceRequest() throws -> ByteBuffer {
        let body = MessageSchema.produceRequest.body
        let topicSchema = self.elementSchema(body, "topicData")
        let partitionSchema = self.elementSchema(topicSchema, "partitionData")
        let batch = self.recordBatch(payloadBytes: 8 * 1024 - 61, records: 8)
        let topics: [KafkaValue] = (0..<8).map { topic in
            self.structure(topicSchema, [
                "name": .string("orders-\(topic)"),
                "partitionData": .array((0..<16).map { partition in
                    self.structure(partitionSchema, ["index": .int32(Int32(partition)), "records": .records(batch)])
                }),
            ])
        }
        let request = KafkaRequest(
            apiKey: .produce, apiVersion: 9, headerVersion: 2, header: self.requestHeader(.produce, 9),
            body: self.fill(body, ["transactionalId": .null, "acks": .int16(-1), "timeoutMs": .int32(30000), "topicData": .array(topics)]))
        var buffer = ByteBuffer()
        try KafkaCodec.encode(request, into: &buffer)
        return buffer
    }

    /// Fetch v12: 10 topics × 100 partitions, each with one 1 KiB batch.
    static func fetchResponse() throws -> ByteBuffer {
        let body = MessageSchema.fetchResponse.body
        let topicSchema = self.elementSchema(body, "responses")
        let partitionSchema = self.elementSchema(topicSchema, "partitions")
        let batch = self.recordBatch(payloadBytes: 1024 - 61, records: 4)
        let topics: [KafkaValue] = (0..<10).map { topic in
            self.structure(topicSchema, [
                "topic": .string("events-\(topic)"),
                "partitions": .array((0..<100).map { partition in
                    self.structure(partitionSchema, [
                        "partitionIndex": .int32(Int32(partition)), "errorCode": .int16(0), "highWatermark": .int64(1000),
                        "lastStableOffset": .int64(1000), "logStartOffset": .int64(0), "abortedTransactions": .array([]),
                        "preferredReadReplica": .int32(-1), "records": .records(batch),
                    ])
                }),
            ])
        }
        let response = KafkaResponse(
            apiKey: .fetch, apiVersion: 12, headerVersion: 1, header: KafkaStruct(values: [.int32(1)]),
            body: self.fill(body, ["throttleTimeMs": .int32(0), "errorCode": .int16(0), "sessionId": .int32(0), "responses": .array(topics)]))
        var buffer = ByteBuffer()
        try KafkaCodec.encode(response, into: &buffer)
        return buffer
    }

    /// Metadata v12: 3 brokers, 10 topics × 100 partitions with 3 replicas each.
    static func metadataResponse() throws -> ByteBuffer {
        let body = MessageSchema.metadataResponse.body
        let brokerSchema = self.elementSchema(body, "brokers")
        let topicSchema = self.elementSchema(body, "topics")
        let partitionSchema = self.elementSchema(topicSchema, "partitions")
        let replicas: KafkaValue = .array([.int32(1), .int32(2), .int32(3)])
        let brokers: [KafkaValue] = (1...3).map { node in
            self.structure(brokerSchema, [
                "nodeId": .int32(Int32(node)), "host": .string("broker-\(node).kafka.svc"), "port": .int32(9092), "rack": .null,
            ])
        }
        let topics: [KafkaValue] = (0..<10).map { topic in
            self.structure(topicSchema, [
                "errorCode": .int16(0), "name": .string("topic-\(topic)"), "topicId": .uuid(KafkaUUID(high: UInt64(topic), low: 7)),
                "isInternal": .bool(false), "topicAuthorizedOperations": .int32(Int32.min),
                "partitions": .array((0..<100).map { partition in
                    self.structure(partitionSchema, [
                        "errorCode": .int16(0), "partitionIndex": .int32(Int32(partition)), "leaderId": .int32(1),
                        "leaderEpoch": .int32(5), "replicaNodes": replicas, "isrNodes": replicas, "offlineReplicas": .array([]),
                    ])
                }),
            ])
        }
        let response = KafkaResponse(
            apiKey: .metadata, apiVersion: 12, headerVersion: 1, header: KafkaStruct(values: [.int32(1)]),
            body: self.fill(body, [
                "throttleTimeMs": .int32(0), "brokers": .array(brokers), "clusterId": .string("bench"), "controllerId": .int32(1),
                "topics": .array(topics),
            ]))
        var buffer = ByteBuffer()
        try KafkaCodec.encode(response, into: &buffer)
        return buffer
    }
}
