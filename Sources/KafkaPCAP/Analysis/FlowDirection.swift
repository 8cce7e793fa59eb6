/// One direction of a TCP flow, named by the order of its `FlowKey`.
enum FlowDirection: CaseIterable {
    /// From `key.first` to `key.second`.
    case forward
    /// From `key.second` to `key.first`.
    case backward

    var reversed: FlowDirection { self == .forward ? .backward : .forward }
}

/// A value for each direction of a flow, changed in place through its subscript.
struct PerDirection<Value> {
    var forward: Value
    var backward: Value

    init(_ value: Value) {
        (self.forward, self.backward) = (value, value)
    }

    subscript(direction: FlowDirection) -> Value {
        get { direction == .forward ? self.forward : self.backward }
        _modify {
            switch direction {
            case .forward: yield &self.forward
            case .backward: yield &self.backward
            }
        }
    }
}
