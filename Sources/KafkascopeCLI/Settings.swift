import ArgumentParser
import Foundation
import KafkaProxy
import KafkaProxyMetrics
import Logging
import Yams

/// Resolves each proxy option from the flag, then `KAFKASCOPE_…` in the environment, then the YAML file.
struct Settings {
    private let command: ProxyCommand
    private let environment: [String: String]
    private let file: [String: String]

    init(command: ProxyCommand, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.command = command
        self.environment = environment
        guard let path = command.config ?? environment["KAFKASCOPE_CONFIG"] else {
            self.file = [:]
            return
        }
        guard let text = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw ValidationError("cannot read the config file \(path)")
        }
        let parsed: Any?
        do {
            parsed = try Yams.load(yaml: text)
        } catch {
            throw ValidationError("the config file \(path) is not valid YAML: \(error)")
        }
        guard let mapping = parsed as? [String: Any] else {
            throw ValidationError("the config file \(path) must be a mapping of option names to values")
        }
        var file: [String: String] = [:]
        for (key, value) in mapping {
            guard Self.optionNames.contains(key) else {
                throw ValidationError("the config file \(path) has an unknown option '\(key)'")
            }
            file[key] = "\(value)"
        }
        self.file = file
    }

    static let optionNames: Set<String> = [
        "bootstrap-server", "listen", "advertised-host", "broker-port-base", "max-frame-bytes", "max-connections",
        "max-in-flight", "idle-timeout", "drain-timeout", "log-level", "metrics-listen", "no-metrics",
        "metrics-label-cap", "lag", "lag-partitions", "lag-max-groups", "lag-max-partitions", "lag-samples",
        "lag-group-idle", "record", "record-max-bytes", "record-redact-sasl", "tls-cert", "tls-key", "tls-client-ca",
        "upstream-tls", "upstream-ca", "upstream-cert", "upstream-key", "upstream-insecure-skip-verify",
        "metrics-tls-cert", "metrics-tls-key",
    ]

    private func value(_ flag: String?, _ name: String) -> String? {
        let variable = "KAFKASCOPE_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
        return flag ?? self.environment[variable] ?? self.file[name]
    }

    /// A flag given on the command line, or `true`/`1`/`yes` in the environment or the file.
    private func flag(_ given: Bool, _ name: String) -> Bool {
        if given { return true }
        guard let text = self.value(nil, name) else { return false }
        return ["true", "1", "yes"].contains(text.lowercased())
    }

    private func boolean(_ flag: Bool?, _ name: String) throws -> Bool? {
        guard let text = self.value(flag.map { String($0) }, name) else { return nil }
        guard let value = Bool(text.lowercased()) else { throw ValidationError("\(name) must be true or false, not '\(text)'") }
        return value
    }

    private func integer(_ flag: Int?, _ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text = self.value(flag.map(String.init), name) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw ValidationError("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound), not '\(text)'")
        }
        return number
    }

    func proxyConfiguration() throws -> ProxyConfiguration {
        guard let bootstrapText = self.value(self.command.bootstrapServer, "bootstrap-server") else {
            throw ValidationError("--bootstrap-server is required (or KAFKASCOPE_BOOTSTRAP_SERVER, or bootstrap-server in --config)")
        }
        guard let bootstrap = HostAndPort.list(parsing: bootstrapText) else {
            throw ValidationError("--bootstrap-server takes HOST:PORT[,HOST:PORT...], not '\(bootstrapText)'")
        }
        let listenText = self.value(self.command.listen, "listen") ?? "127.0.0.1:19092"
        guard let listen = HostAndPort(parsing: listenText) else {
            throw ValidationError("--listen takes HOST:PORT, not '\(listenText)'")
        }
        var configuration = ProxyConfiguration(bootstrapServers: bootstrap, listen: listen)
        configuration.advertisedHost = self.value(self.command.advertisedHost, "advertised-host")
        configuration.brokerPortBase = try self.integer(self.command.brokerPortBase, "broker-port-base", range: 1...65535)
        if let bytes = try self.integer(self.command.maxFrameBytes, "max-frame-bytes", range: 64...Int(Int32.max)) {
            configuration.maxFrameBytes = bytes
        }
        if let count = try self.integer(self.command.maxConnections, "max-connections", range: 1...1_000_000) {
            configuration.maxConnections = count
        }
        if let count = try self.integer(self.command.maxInFlight, "max-in-flight", range: 1...1_000_000) {
            configuration.maxInFlightRequests = count
        }
        if let seconds = try self.integer(self.command.idleTimeout, "idle-timeout", range: 1...86_400 * 365) {
            configuration.idleTimeout = .seconds(seconds)
        }
        if let seconds = try self.integer(self.command.drainTimeout, "drain-timeout", range: 0...86_400) {
            configuration.drainTimeout = .seconds(seconds)
        }
        configuration.recordPath = self.value(self.command.record, "record")
        configuration.recordRotationBytes = try self.integer(self.command.recordMaxBytes, "record-max-bytes", range: 4096...Int(Int64.max))
        configuration.recordRedactsSasl = self.flag(self.command.recordRedactSasl, "record-redact-sasl")
        if configuration.recordRedactsSasl && configuration.recordPath == nil {
            throw ValidationError("--record-redact-sasl needs --record")
        }
        configuration.exchangeLogPath = self.value(self.command.exchangeLog, "exchange-log")
        configuration.exchangeLogRotationBytes = try self.integer(
            self.command.exchangeLogMaxBytes, "exchange-log-max-bytes", range: 4096...Int(Int64.max))
        if configuration.exchangeLogRotationBytes != nil && configuration.exchangeLogPath == nil {
            throw ValidationError("--exchange-log-max-bytes needs --exchange-log")
        }
        configuration.clientTLS = try self.clientTLS()
        configuration.upstreamTLS = try self.upstreamTLS()
        return configuration
    }

    private func clientTLS() throws -> ServerTLSSettings? {
        let clientCA = self.value(self.command.tlsClientCa, "tls-client-ca")
        let settings = try self.serverTLS(certificate: self.command.tlsCert, key: self.command.tlsKey, prefix: "tls")
        if settings == nil && clientCA != nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        return settings.map { ServerTLSSettings(certificatePath: $0.certificatePath, keyPath: $0.keyPath, clientCAPath: clientCA) }
    }

    /// TLS for the metrics endpoint; nil serves plain HTTP.
    func metricsTLS() throws -> ServerTLSSettings? {
        try self.serverTLS(certificate: self.command.metricsTlsCert, key: self.command.metricsTlsKey, prefix: "metrics-tls")
    }

    private func serverTLS(certificate: String?, key: String?, prefix: String) throws -> ServerTLSSettings? {
        switch (self.value(certificate, prefix + "-cert"), self.value(key, prefix + "-key")) {
        case (let certificate?, let key?): return ServerTLSSettings(certificatePath: certificate, keyPath: key)
        case (nil, nil): return nil
        default: throw ValidationError("--\(prefix)-cert and --\(prefix)-key go together")
        }
    }

    private func upstreamTLS() throws -> UpstreamTLSSettings? {
        let settings = UpstreamTLSSettings(
            caPath: self.value(self.command.upstreamCa, "upstream-ca"),
            certificatePath: self.value(self.command.upstreamCert, "upstream-cert"),
            keyPath: self.value(self.command.upstreamKey, "upstream-key"),
            verify: !self.flag(self.command.upstreamInsecureSkipVerify, "upstream-insecure-skip-verify"))
        guard self.flag(self.command.upstreamTls, "upstream-tls") else {
            if settings != UpstreamTLSSettings() {
                throw ValidationError("--upstream-ca, --upstream-cert, --upstream-key and --upstream-insecure-skip-verify need --upstream-tls")
            }
            return nil
        }
        if (settings.certificatePath == nil) != (settings.keyPath == nil) {
            throw ValidationError("--upstream-cert and --upstream-key go together")
        }
        return settings
    }

    /// Where to serve metrics, or nil with `--no-metrics`.
    func metricsAddress() throws -> HostAndPort? {
        if self.flag(self.command.noMetrics, "no-metrics") { return nil }
        let text = self.value(self.command.metricsListen, "metrics-listen") ?? "127.0.0.1:\(MetricsEndpoint.defaultPort)"
        guard let address = HostAndPort(parsing: text) else {
            throw ValidationError("--metrics-listen takes HOST:PORT, not '\(text)'")
        }
        return address
    }

    func metricsLabelCap() throws -> Int {
        try self.integer(self.command.metricsLabelCap, "metrics-label-cap", range: 1...1_000_000) ?? KafkascopeMetrics.defaultLabelCap
    }

    /// Nil with `--lag false`: no lag is tracked.
    func lagSettings() throws -> LagSettings? {
        guard try self.boolean(self.command.lag, "lag") ?? true else { return nil }
        var lag = LagSettings()
        lag.partitionSeries = try self.boolean(self.command.lagPartitions, "lag-partitions") ?? lag.partitionSeries
        lag.maximumGroups = try self.integer(self.command.lagMaxGroups, "lag-max-groups", range: 1...10_000_000) ?? lag.maximumGroups
        lag.maximumPartitions =
            try self.integer(self.command.lagMaxPartitions, "lag-max-partitions", range: 1...100_000_000) ?? lag.maximumPartitions
        lag.samplesPerPartition = try self.integer(self.command.lagSamples, "lag-samples", range: 2...100_000) ?? lag.samplesPerPartition
        if let seconds = try self.integer(self.command.lagGroupIdle, "lag-group-idle", range: 1...86_400 * 365) {
            lag.groupIdleMicroseconds = Int64(seconds) * 1_000_000
        }
        return lag
    }

    func logLevel() throws -> Logger.Level {
        let text = self.value(self.command.logLevel, "log-level") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}
