import ArgumentParser
import Foundation
import KafkaProxy
import KafkaProxyMetrics
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// `kafkascope proxy`: the sidecar.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Run the transparent Kafka proxy in front of a cluster.",
        discussion: """
            Clients bootstrap at --listen. Every broker with node id N gets its own listener at \
            --broker-port-base + N (default: the listen port + 1), and responses that name brokers (Metadata, \
            FindCoordinator, DescribeCluster, and the NodeEndpoints of Produce, Fetch, ShareFetch and \
            ShareAcknowledge) are rewritten to --advertised-host and that port, so clients keep connecting through \
            the proxy. Everything else is forwarded byte for byte.

            Each option can also come from the environment (KAFKASCOPE_ and the option's name in upper case with \
            underscores, e.g. KAFKASCOPE_BOOTSTRAP_SERVER) or from a YAML file given with --config (keys are the \
            option names, e.g. bootstrap-server). Flags beat the environment, which beats the file.
            """
    )

    @Option(help: "YAML file with any of these options.")
    var config: String?

    @Option(help: "The upstream cluster: HOST:PORT[,HOST:PORT...]. Required.")
    var bootstrapServer: String?

    @Option(help: "Where clients bootstrap (default 127.0.0.1:19092).")
    var listen: String?

    @Option(help: "Host written into rewritten responses (default: the listen host).")
    var advertisedHost: String?

    @Option(help: "Broker node N listens on this + N (default: the listen port + 1).")
    var brokerPortBase: Int?

    @Option(help: "Largest request frame accepted, in bytes (default 104857600).")
    var maxFrameBytes: Int?

    @Option(help: "Most client connections at once (default 10000).")
    var maxConnections: Int?

    @Option(help: "Requests in flight per connection before the proxy stops reading from it (default 1024).")
    var maxInFlight: Int?

    @Option(help: "Seconds without traffic before a client connection is closed (default 600).")
    var idleTimeout: Int?

    @Option(help: "Seconds in-flight requests get to finish on SIGTERM or SIGINT (default 30).")
    var drainTimeout: Int?

    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(help: "Where /metrics, /healthz and /readyz are served, HOST:PORT (default 127.0.0.1:9464).")
    var metricsListen: String?

    @Flag(help: "Serve no metrics endpoint, and skip decoding and timing the traffic for it.")
    var noMetrics = false

    @Option(help: "Most distinct values of the topic, group and client labels; more fold into __other__ (default 500).")
    var metricsLabelCap: Int?

    @Option(help: "Track consumer-group lag from the traffic (GET /lag and the lag families; default true).")
    var lag: Bool?

    @Option(help: "Export consumer lag per partition as well as per topic; false leaves the per-topic sums, for large clusters (default true).")
    var lagPartitions: Bool?

    @Option(help: "Consumer groups whose lag is tracked at most; the one seen longest ago makes room (default 5000).")
    var lagMaxGroups: Int?

    @Option(help: "Partitions whose log end offset is tracked at most, and committed partitions per group (default 100000).")
    var lagMaxPartitions: Int?

    @Option(help: "(offset, time) samples kept per partition for lag in seconds (default 64).")
    var lagSamples: Int?

    @Option(help: "Seconds after which a consumer group with no traffic is forgotten (default 3600).")
    var lagGroupIdle: Int?

    @Option(help: "Record both legs of every connection to this pcap file (plaintext: it holds everything clients send, SASL included).")
    var record: String?

    @Option(help: "With --record: start a new file (NAME.1.pcap, NAME.2.pcap, ...) after this many bytes.")
    var recordMaxBytes: Int?

    @Flag(help: "With --record: blank the tokens of SaslAuthenticate and legacy SASL exchanges in the recording.")
    var recordRedactSasl = false

    @Option(help: "Write one JSON line per request and its response to this file (- for stdout), in the schema of `kafkascope pcap --format jsonl`.")
    var exchangeLog: String?

    @Option(help: "With --exchange-log: start a new file (NAME.1.jsonl, NAME.2.jsonl, ...) after this many bytes.")
    var exchangeLogMaxBytes: Int?

    @Option(help: "Serve TLS to clients with this PEM certificate (chain); needs --tls-key. Re-read on SIGHUP and when it changes.")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert (unencrypted).")
    var tlsKey: String?

    @Option(help: "Require client certificates signed by this PEM CA (mutual TLS).")
    var tlsClientCa: String?

    @Flag(help: "Connect to brokers with TLS; broker certificates and host names are verified.")
    var upstreamTls = false

    @Option(help: "With --upstream-tls: the PEM CA that broker certificates must chain to (default: the system's roots).")
    var upstreamCa: String?

    @Option(help: "With --upstream-tls: a PEM client certificate for brokers that require one; needs --upstream-key.")
    var upstreamCert: String?

    @Option(help: "The PEM private key of --upstream-cert (unencrypted).")
    var upstreamKey: String?

    @Flag(help: "With --upstream-tls: accept any broker certificate. Insecure; logs a warning.")
    var upstreamInsecureSkipVerify = false

    @Option(help: "Serve the metrics endpoint over TLS with this PEM certificate; needs --metrics-tls-key.")
    var metricsTlsCert: String?

    @Option(help: "The PEM private key of --metrics-tls-cert.")
    var metricsTlsKey: String?

    /// A file or port the proxy cannot use: one line on stderr and EX_CONFIG, without the usage text that
    /// argument errors get.
    private static func setupFailure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("kafkascope: \(message)\n".utf8))
        return ExitCode(78)
    }

    func run() async throws {
        let settings = try Settings(command: self)
        let configuration = try settings.proxyConfiguration()
        let level = try settings.logLevel()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kafkascope")
        let metricsAddress = try settings.metricsAddress()
        let metrics = KafkascopeMetrics(
            labelCap: try settings.metricsLabelCap(), recordsExchanges: metricsAddress != nil || configuration.exchangeLogPath != nil,
            lag: try settings.lagSettings())
        metrics.processStarted(atEpochSeconds: Double(WallClock.microseconds()) / 1e6)
        let server: ProxyServer
        do {
            server = try ProxyServer(configuration: configuration, metrics: metrics, logger: logger)
        } catch {
            throw Self.setupFailure("\(error)")
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
        let metricsTLS: ServerTLSContextStore?
        do {
            metricsTLS = try settings.metricsTLS().map { try ServerTLSContextStore(settings: $0, purpose: "metrics", metrics: metrics, logger: logger) }
        } catch {
            throw Self.setupFailure("metrics endpoint: \(error)")
        }
        let certificates = [server.clientTLS, metricsTLS].compactMap { $0 }
        if !certificates.isEmpty { services.append(.init(service: TLSReloader(stores: certificates))) }
        if let address = metricsAddress {
            var prepare: (@Sendable (any Channel) throws -> Void)?
            if let metricsTLS { prepare = { channel in try metricsTLS.addHandlers(to: channel) } }
            let endpoint = MetricsEndpoint(
                host: address.host, port: address.port, metrics: metrics, logger: logger, prepare: prepare
            ) {
                server.isReady
            }
            // A metrics port that cannot be bound stops the proxy: a sidecar without metrics looks healthy to nobody.
            services.append(.init(service: endpoint, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
