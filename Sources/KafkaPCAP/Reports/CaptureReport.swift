import KafkaCodec
import KafkaProxyMetrics

/// One analysis of captures into one report format: what `kafkascope pcap` runs, and what the capture fuzzer runs
/// on every input, so that both exercise the same path from packets to text.
public final class CaptureReport {
    public enum Format: String, CaseIterable, Sendable {
        /// Tables per API, client and topic, then the capture's totals.
        case summary
        /// One JSON object per request/response pair, as they complete.
        case jsonl
        /// The proxy's metric families, in the Prometheus text format.
        case prometheus
        /// Every client and the API versions it used, as JSON: the proxy's `GET /clients` for a capture.
        case clients
        /// Consumer-group lag as of the capture's end, as JSON: the proxy's `GET /lag` for a capture.
        case lag
    }

    public struct Settings {
        public var format: Format = .summary
        /// With jsonl: the decoded request and response bodies too.
        public var decodeFull = false
        /// Only exchanges whose request lies in this window (microseconds since the epoch).
        public var window: ClosedRange<Int64> = Int64.min...Int64.max
        /// Broker ports; empty to detect Kafka flows from their first bytes.
        public var brokerPorts: Set<UInt16> = []
        /// Read frames and build the report on a second thread (summary and jsonl).
        public var secondThread = false

        public init() {}
    }

    private let settings: Settings
    private let write: (String) -> Void
    private let analyzer: CaptureAnalyzer
    private let metrics: KafkascopeMetrics?
    private let summary: SummaryBox
    /// Every client seen, for the summary and clients formats.
    private let clients: ClientDirectory
    /// Consumer lag, for the summary and lag formats (prometheus has its own, in `metrics`).
    private let lag: ConsumerLag

    /// `write` takes the report's text as it is produced; jsonl lines come from the thread that reads frames.
    public init(settings: Settings, write: @escaping (String) -> Void) {
        self.settings = settings
        self.write = write
        let metrics = settings.format == .prometheus ? KafkascopeMetrics(lagAsOfWallClock: false) : nil
        let clients = ClientDirectory()
        let lag = ConsumerLag()
        let tracksLag = settings.format == .summary || settings.format == .lag
        var options = CaptureAnalyzer.Options()
        options.brokerPorts = settings.brokerPorts
        options.clients = clients
        options.decode = settings.format == .summary || settings.format == .jsonl || settings.format == .lag
        options.keepDecoded = settings.decodeFull
        options.listTopics = settings.format == .jsonl
        options.metrics = metrics
        options.secondThread = options.decode && settings.secondThread
        let summary = SummaryBox()
        let (window, format, decodeFull) = (settings.window, settings.format, settings.decodeFull)
        self.analyzer = CaptureAnalyzer(options: options) { exchange, names in
            guard window.contains(exchange.request.timestamp) else { return }
            // Unwrapped in the call rather than bound to a name, which would copy the facts for every exchange.
            if tracksLag, exchange.responseFacts != nil, ConsumerLag.isRelevant(exchange.request.header.apiKey) {
                let api = exchange.request.header.apiKey
                lag.observe(
                    api, request: exchange.request.facts.map { LagRequest(api, facts: $0) } ?? .nothing, response: exchange.responseFacts!,
                    at: exchange.responseTimestamp) { names.label(of: $0) }
            }
            switch format {
            case .summary: summary.report.add(exchange, names: names)
            case .jsonl: write(JSONLines.line(for: exchange, decodeFull: decodeFull, topicName: names.name(of:)) + "\n")
            case .prometheus, .clients, .lag: break
            }
        }
        self.metrics = metrics
        self.clients = clients
        self.lag = lag
        self.summary = summary
    }

    /// Feeds every packet of `capture`; returns why it ended early, if it did (what was read before stands).
    /// `progress` is called every 16,384 packets.
    public func read(_ capture: PacketCapture, progress: () -> Void = {}) -> String? {
        var number = 0
        while true {
            switch capture.next() {
            case .packet(let packet):
                number += 1
                self.analyzer.process(packet, linkType: capture.linkType, number: number)
                if number & 0x3FFF == 0 { progress() }
            case .idle:
                continue
            case .end:
                return nil
            case .failed(let reason):
                return "capture ends early after packet \(number) (\(reason))"
            }
        }
    }

    /// Ends the analysis, writes what the format writes at the end, and gives the capture's totals.
    public func finish() -> CaptureCounters {
        self.analyzer.finishAll()
        let counters = self.analyzer.counters
        switch self.settings.format {
        case .summary:
            self.write(self.summary.report.render(
                counters: counters, brokerPorts: self.analyzer.brokerPorts, clients: self.clients, lag: self.lag.snapshot()))
        case .jsonl: break
        case .prometheus: self.write(String(decoding: self.metrics!.exposition(), as: UTF8.self))
        case .clients: self.write(self.clients.json())
        case .lag: self.write(self.lag.snapshot().json())
        }
        return counters
    }

    /// The broker ports given, or found.
    public var brokerPorts: Set<UInt16> { self.analyzer.brokerPorts }
}

@available(*, unavailable)
extension CaptureReport: Sendable {}

/// The summary being built, shared between the report and the analyzer's exchange handler.
private final class SummaryBox {
    var report = SummaryReport()
}
