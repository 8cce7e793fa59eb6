/// A partition's offset, or a time, as a message states it: what consumer lag is computed from.
public struct PartitionOffset: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// OffsetCommit and TxnOffsetCommit requests, OffsetFetch responses.
        case committed
        /// Fetch responses.
        case highWatermark
        /// Produce responses: the offset of the request's first record.
        case baseOffset
        /// Produce responses: the broker's append time, -1 for CreateTime topics.
        case logAppendTime
        /// ListOffsets responses.
        case listedOffset
        /// ListOffsets requests: the time asked for, -1 for the latest offset.
        case listedTimestamp
    }

    public var kind: Kind
    /// The group the enclosing structure names, if any (OffsetFetch v8+ answers for several).
    public var group: String?
    public var topic: TopicReference?
    public var partition: Int32
    public var value: Int64
}

/// A member id a message names, with the group of the enclosing structure if it names one.
public struct GroupMember: Hashable, Sendable {
    public var group: String?
    public var memberID: String
}

/// The group facts of one message; changed only while its facts are read, by the one `MessageFacts` that holds it.
final class GroupListing: @unchecked Sendable {
    var groups: [String] = []
    var members: [GroupMember] = []
    var memberEpoch: Int32?

    func copy() -> GroupListing {
        let copy = GroupListing()
        copy.groups = self.groups
        copy.members = self.members
        copy.memberEpoch = self.memberEpoch
        return copy
    }
}

extension MessageFacts {
    /// Group ids the message names, in order.
    public var groups: [String] { self.groupListing?.groups ?? [] }
    /// Member ids the message names (empty ones left out), in order.
    public var members: [GroupMember] { self.groupListing?.members ?? [] }
    /// The top-level member epoch (ConsumerGroupHeartbeat: -1 or -2 when the member leaves).
    public var memberEpoch: Int32? { self.groupListing?.memberEpoch }

    private mutating func editGroups(_ change: (GroupListing) -> Void) {
        if self.groupListing == nil {
            self.groupListing = GroupListing()
        } else if !isKnownUniquelyReferenced(&self.groupListing!) {
            self.groupListing = self.groupListing!.copy()
        }
        change(self.groupListing!)
    }

    mutating func noteGroup(_ group: String) {
        self.editGroups { $0.groups.append(group) }
    }

    mutating func noteMember(_ memberID: String, group: String?) {
        guard !memberID.isEmpty else { return }  // a first JoinGroup asks for an id
        self.editGroups { $0.members.append(GroupMember(group: group, memberID: memberID)) }
    }

    mutating func noteMemberEpoch(_ epoch: Int32) {
        self.editGroups { $0.memberEpoch = epoch }
    }

    mutating func noteOffset(_ kind: PartitionOffset.Kind, _ value: Int64, group: String?, topic: TopicReference?, partition: Int32?) {
        guard let partition else { return }
        // Produce and Fetch responses state two offsets per partition, and most name one partition.
        if self.offsets.isEmpty { self.offsets.reserveCapacity(4) }
        self.offsets.append(PartitionOffset(kind: kind, group: group, topic: topic, partition: partition, value: value))
    }
}
