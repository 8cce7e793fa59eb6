import ArgumentParser
import KafkaProxyMetrics

@main
struct Kafkascope: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafkascope",
        abstract: "A transparent, protocol-aware Kafka proxy and traffic observer.",
        version: KafkascopeVersion.current,
        subcommands: [ProxyCommand.self, DecodeCommand.self, PcapCommand.self, CaptureCommand.self]
    )
}
