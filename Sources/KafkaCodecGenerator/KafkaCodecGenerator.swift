import Foundation
import KafkaCodecGeneratorKit

/// `swift run kafka-codec-generator SCHEMA_DIR [OUTPUT_DIR]` regenerates `Sources/KafkaCodec/Generated`.
@main
struct KafkaCodecGeneratorCommand {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let schemas = arguments.first else {
            FileHandle.standardError.write(Data("usage: kafka-codec-generator SCHEMA_DIR [OUTPUT_DIR]\n".utf8))
            exit(64)
        }
        let output = arguments.dropFirst().first ?? "Sources/KafkaCodec/Generated"
        do {
            let count = try CodecGenerator.write(
                schemaDirectory: URL(fileURLWithPath: schemas),
                outputDirectory: URL(fileURLWithPath: output)
            )
            print("wrote \(count) files to \(output)")
        } catch {
            FileHandle.standardError.write(Data("kafka-codec-generator: \(error)\n".utf8))
            exit(1)
        }
    }
}
