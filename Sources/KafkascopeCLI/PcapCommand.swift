public import ArgumentParser
import Foundation
import KafkaCodec
import KafkaPCAP
import KafkaProxyMetrics

/// `kafkascope pcap`: offline analysis of recorded traffic with the proxy's codec and metrics.
struct PcapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcap",
        abstract: "Analyse Kafka traffic in pcap or pcapng captures (from tcpdump, Wireshark or proxy --record).",
        discussion: """
            Flows to the --port broker ports are Kafka; without --port, flows whose first bytes are a Kafka request \
            are, and the ports found are printed. TCP is reassembled per flow (retransmissions once, reordering \
            within a window, lost segments counted as gaps after which decoding resumes at the next plausible frame), \
            and each response is paired with its request by correlation id. Several files are read as one capture, \
            in the order given. Exit status: 0, also for a truncated file (a warning says where it ended); 65 for a \
            file that is not a capture; 66 for a file that cannot be read.
            """
    )

    enum Decode: String, ExpressibleByArgument, CaseIterable {
        case none, full
    }

    @Argument(help: "pcap or pcapng files.")
    var files: [String]

    @Option(name: .customLong("port"), help: "A broker port (repeatable).")
    var ports: [Int] = []

    @Option(help: "summary (tables), jsonl (one object per request/response pair), prometheus (text exposition), clients (JSON: every client and the API versions it used, for Kafka 4.0 readiness) or lag (JSON: consumer-group lag as of the capture's end, as the proxy's /lag).")
    var format: CaptureReport.Format = .summary

    @Option(help: "With jsonl: full adds the decoded request and response bodies (SASL secrets redacted).")
    var decode: Decode = .none

    @Option(help: "Write to this file instead of stdout.")
    var output: String?

    @Option(help: "Only requests at or after this time (ISO-8601, e.g. 2026-11-25T10:00:00Z).")
    var from: String?

    @Option(help: "Only requests at or before this time (ISO-8601).")
    var to: String?

    @Option(help: """
        1 to do all the work on one thread; 2 to read frames and build the report on a second thread while the \
        first reassembles the streams (summary and jsonl). Default: 2 where the machine has more than one core.
        """)
    var threads: Int?

    @Flag(help: "Never show the progress bar (it shows only when stderr is a terminal).")
    var noProgress = false

    func validate() throws {
        guard !self.files.isEmpty else { throw ValidationError("give at least one capture file") }
        for port in self.ports where !(1...65535).contains(port) {
            throw ValidationError("--port takes 1...65535, not \(port)")
        }
        if let threads = self.threads, !(1...2).contains(threads) {
            throw ValidationError("--threads takes 1 or 2, not \(threads)")
        }
        if self.decode == .full && self.format != .jsonl {
            throw ValidationError("--decode full applies to --format jsonl")
        }
    }

    func run() throws {
        try self.reportingFailures {
            let sink = try OutputSink(path: self.output)
            var settings = CaptureReport.Settings()
            settings.format = self.format
            settings.decodeFull = self.decode == .full
            settings.window = (try Self.instant(self.from, "--from") ?? Int64.min)...(try Self.instant(self.to, "--to") ?? Int64.max)
            settings.brokerPorts = Set(self.ports.map { UInt16($0) })
            settings.secondThread = (self.threads ?? (ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 1)) == 2
            let report = CaptureReport(settings: settings, write: sink.write)
            let progress = ProgressBar(enabled: !self.noProgress && isatty(STDERR_FILENO) == 1)
            for file in self.files {
                let capture: PacketCapture
                do throws(CaptureError) {
                    capture = try PacketCapture.open(file: file)
                } catch {
                    throw CommandFailure("error: \(error.description)", exitCode: error.kind == .unreadable ? 66 : 65)
                }
                if let failure = report.read(capture, progress: { progress.update(file: file, offset: capture.fileOffset, size: capture.fileSize) }) {
                    progress.finish()
                    Self.note("warning: \(file): \(failure); the results cover what was read")
                }
            }
            progress.finish()
            let counters = report.finish()
            try sink.close()
            if self.ports.isEmpty && !report.brokerPorts.isEmpty {
                Self.note("detected Kafka broker ports: \(report.brokerPorts.sorted().map(String.init).joined(separator: ", "))")
            }
            if counters.kafkaFlows == 0 {
                Self.note("warning: no Kafka traffic found in \(counters.packets) packets\(self.ports.isEmpty ? "; give --port if the brokers use a port whose flows started before the capture" : "")")
            } else if self.format != .summary {
                Self.note(counters.all.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
            }
        }
    }

    private static func instant(_ text: String?, _ option: String) throws -> Int64? {
        guard let text else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) ?? plain.date(from: text) else {
            throw CommandFailure("error: \(option) takes an ISO-8601 time such as 2026-11-25T10:00:00Z, not '\(text)'", exitCode: 64)
        }
        return Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension CaptureReport.Format: ExpressibleByArgument {}
