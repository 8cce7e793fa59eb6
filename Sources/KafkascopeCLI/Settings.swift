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
        "metrics-label-cap", "record", "record-max-bytes",
    ]

    private func value(_ flag: String?, _ name: String) -> String? {
        let variable = "KAFKASCOPE_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
        return flag ?? self.environment[variable] ?? self.file[name]
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
        return configuration
    }

    /// Where to serve metrics, or nil with `--no-metrics`.
    func metricsAddress() throws -> HostAndPort? {
        let disabled = self.command.noMetrics ? "true" : self.value(nil, "no-metrics")
        if let disabled, ["true", "1", "yes"].contains(disabled.lowercased()) { return nil }
        let text = self.value(self.command.metricsListen, "metrics-listen") ?? "127.0.0.1:\(MetricsEndpoint.defaultPort)"
        guard let address = HostAndPort(parsing: text) else {
            throw ValidationError("--metrics-listen takes HOST:PORT, not '\(text)'")
        }
        return address
    }

    func metricsLabelCap() throws -> Int {
        try self.integer(self.command.metricsLabelCap, "metrics-label-cap", range: 1...1_000_000) ?? KafkascopeMetrics.defaultLabelCap
    }

    func logLevel() throws -> Logger.Level {
        let text = self.value(self.command.logLevel, "log-level") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}
