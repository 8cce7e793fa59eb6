import NIOConcurrencyHelpers

/// What `/readyz` reports: ready once the bootstrap listener is open and a bootstrap broker has been reached.
final class Readiness: Sendable {
    private struct State {
        var listening = false
        var reachedBroker = false
    }

    private let state = NIOLockedValueBox(State())

    var isReady: Bool { self.state.withLockedValue { $0.listening && $0.reachedBroker } }
    var hasReachedBroker: Bool { self.state.withLockedValue { $0.reachedBroker } }

    func listening(_ listening: Bool) {
        self.state.withLockedValue { $0.listening = listening }
    }

    func brokerReached() {
        self.state.withLockedValue { $0.reachedBroker = true }
    }
}
