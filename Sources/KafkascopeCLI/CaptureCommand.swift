import ArgumentParser
import KafkaPCAP
import KafkaProxy
import KafkaProxyMetrics
import Logging
import ServiceLifecycle
import UnixSignals

/// `kafkascope capture`: passive live observation where no proxy may be inserted.
struct CaptureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Sniff Kafka traffic on an interface (libpcap; needs root or CAP_NET_RAW) and serve the proxy's metrics.",
        discussion: """
            Uses the same reassembly, decoding and metric families as `kafkascope pcap` and the proxy, so one \
            dashboard serves all three. The broker label is the broker's address.
            """
    )

    @Option(help: "The interface to capture on, e.g. eth0, or lo for loopback.")
    var interface: String

    @Option(name: .customLong("port"), help: "A broker port (repeatable); without it, Kafka flows are detected from their first bytes.")
    var ports: [Int] = []

    @Option(help: "A BPF filter instead of the one built from --port (default: tcp, and the ports).")
    var filter: String?

    @Option(help: "Where /metrics, /healthz and /readyz are served, HOST:PORT.")
    var metricsListen: String = "127.0.0.1:\(MetricsEndpoint.defaultPort)"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        for port in self.ports where !(1...65535).contains(port) {
            throw ValidationError("--port takes 1...65535, not \(port)")
        }
        guard HostAndPort(parsing: self.metricsListen) != nil else {
            throw ValidationError("--metrics-listen takes HOST:PORT, not '\(self.metricsListen)'")
        }
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: self.logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kafkascope")
        let metricsAddress = HostAndPort(parsing: self.metricsListen)!  // checked in validate()
        let filter = self.filter ?? (["tcp"] + (self.ports.isEmpty ? [] : ["(" + self.ports.map { "port \($0)" }.joined(separator: " or ") + ")"]))
            .joined(separator: " and ")
        let capture: PacketCapture
        do {
            capture = try PacketCapture.live(interface: self.interface, filter: filter)
        } catch {
            throw ValidationError(error.description)
        }
        let metrics = KafkascopeMetrics()
        var options = CaptureAnalyzer.Options()
        options.brokerPorts = Set(self.ports.map { UInt16($0) })
        options.decode = false
        options.metrics = metrics
        let sniffer = LiveCapture(capture: capture, options: options, logger: logger)
        let endpoint = MetricsEndpoint(
            host: metricsAddress.host, port: metricsAddress.port, metrics: metrics, logger: logger) { true }
        logger.info("capturing", metadata: ["kafkascope.interface": "\(self.interface)", "kafkascope.filter": "\(filter)"])
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: sniffer, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: endpoint, failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
