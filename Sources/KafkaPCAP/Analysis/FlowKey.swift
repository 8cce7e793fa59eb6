/// A TCP connection's two ends in a fixed order, so both directions find the same flow.
struct FlowKey: Hashable {
    let first: Endpoint
    let second: Endpoint

    init(_ a: Endpoint, _ b: Endpoint) {
        if (a.high, a.low, a.port) <= (b.high, b.low, b.port) {
            self.first = a
            self.second = b
        } else {
            self.first = b
            self.second = a
        }
    }
}
