import Foundation
import KafkaTestSupport
import Testing

/// `kafkascope proxy` as a user starts it: options from flags, the environment and a YAML file, and a clean
/// exit on SIGTERM.
@Suite struct ProxyCommandTests {
    @Test func aMissingBootstrapServerIsAClearError() throws {
        let result = try KafkascopeProcess.run(["proxy", "--listen", "127.0.0.1:0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--bootstrap-server is required"))
    }

    @Test func badValuesNameTheOption() throws {
        let port = try KafkascopeProcess.run(["proxy", "--bootstrap-server", "localhost:notaport"])
        #expect(port.status != 0)
        #expect(port.stderr.contains("--bootstrap-server takes HOST:PORT"))
        let level = try KafkascopeProcess.run(["proxy", "--bootstrap-server", "localhost:9092", "--log-level", "loud"])
        #expect(level.status != 0)
        #expect(level.stderr.contains("--log-level"))
    }

    @Test func tlsOptionsThatDoNotGoTogetherAreNamed() throws {
        let base = ["proxy", "--bootstrap-server", "localhost:9092", "--no-metrics"]
        let cases: [([String], String)] = [
            (["--tls-cert", "a.crt"], "--tls-cert and --tls-key go together"),
            (["--tls-client-ca", "ca.crt"], "--tls-client-ca needs --tls-cert and --tls-key"),
            (["--upstream-ca", "ca.crt"], "need --upstream-tls"),
            (["--upstream-tls", "--upstream-key", "k.pem"], "--upstream-cert and --upstream-key go together"),
            (["--record-redact-sasl"], "--record-redact-sasl needs --record"),
        ]
        for (extra, message) in cases {
            let result = try KafkascopeProcess.run(base + extra)
            #expect(result.status != 0, "\(extra)")
            #expect(result.stderr.contains(message), "\(extra): \(result.stderr)")
        }
    }

    /// A TLS file that cannot be used stops the proxy at once, with one line and EX_CONFIG.
    @Test func anUnreadableCertificateStopsTheProxy() throws {
        let result = try KafkascopeProcess.run(
            ["proxy", "--bootstrap-server", "localhost:9092", "--no-metrics", "--tls-cert", "/nonexistent/tls.crt", "--tls-key", "/nonexistent/tls.key"])
        #expect(result.status == 78)
        #expect(result.stderr == "kafkascope: cannot read the certificate file /nonexistent/tls.crt\n")
    }

    @Test func theConfigFileMustBeKnownOptions() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-\(UUID()).yaml")
        try Data("bootstrap-server: localhost:9092\nlisten-port: 3\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try KafkascopeProcess.run(["proxy", "--config", file.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown option 'listen-port'"))
    }

    /// Settings from a file and the environment take effect, and SIGTERM with nothing in flight exits 0.
    @Test func startsFromTheConfigFileAndExitsCleanlyOnSIGTERM() async throws {
        let listen = try Self.freePort()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-\(UUID()).yaml")
        try Data("bootstrap-server: 127.0.0.1:9\nlisten: 127.0.0.1:\(listen)\ndrain-timeout: 2\nmetrics-listen: 127.0.0.1:0\n".utf8)
            .write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = KafkascopeProcess.executable
        process.arguments = ["proxy"]
        var environment = ProcessInfo.processInfo.environment
        environment["KAFKASCOPE_CONFIG"] = file.path
        environment["KAFKASCOPE_LOG_LEVEL"] = "debug"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { process.interrupt() } }
        #expect(try await Self.waitUntilAccepting(port: listen), "the proxy listens where the file says")
        process.terminate()  // SIGTERM
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("debug"), "the log level came from the environment")
        #expect(log.contains("no longer accepting connections"))
    }

    /// A sidecar whose metrics cannot be served stops with the reason rather than run unobserved.
    @Test func aTakenMetricsPortIsAClearError() throws {
        let (socket, taken) = try Self.listeningSocket()
        defer { close(socket) }
        let result = try KafkascopeProcess.run([
            "proxy", "--bootstrap-server", "127.0.0.1:9", "--listen", "127.0.0.1:\(try Self.freePort())",
            "--metrics-listen", "127.0.0.1:\(taken)",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot serve metrics on 127.0.0.1:\(taken)"))
    }

    static func listeningSocket() throws -> (Int32, Int) {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(socket, raw, length) == 0, listen(socket, 1) == 0, getsockname(socket, raw, &length) == 0 else {
                    close(socket)
                    throw POSIXError(.EADDRNOTAVAIL)
                }
            }
        }
        return (socket, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(socket, raw, length) == 0, getsockname(socket, raw, &length) == 0 else {
                    throw POSIXError(.EADDRNOTAVAIL)
                }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func waitUntilAccepting(port: Int) async throws -> Bool {
        for _ in 0..<500 {
            let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(socket)
            if connected { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
