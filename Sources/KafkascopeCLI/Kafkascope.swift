import ArgumentParser

@main
struct Kafkascope: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafkascope",
        abstract: "A transparent, protocol-aware Kafka proxy and traffic observer.",
        subcommands: [ProxyCommand.self, DecodeCommand.self]
    )
}
