import ArgumentParser
import Foundation
import KafkaCodec
import KafkaProxyMetrics

@main
struct Kafkascope: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafkascope",
        abstract: "A transparent, protocol-aware Kafka proxy and traffic observer.",
        version: KafkascopeVersion.current,
        subcommands: [ProxyCommand.self, DecodeCommand.self, PcapCommand.self, CaptureCommand.self]
    )

    static func main() async {
        // The codec's tables are built on another core while the command line is parsed: every command but
        // --help and --version reads frames, and a capture analysis otherwise waits for them at its first frame.
        Thread.detachNewThread { KafkaCodec.prepareTables() }
        await Self.main(nil)
    }
}
