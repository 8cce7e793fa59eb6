import Foundation
import KafkaCodecGeneratorKit

/// `swift run kafka-codec-generator OUTPUT_DIR NEWEST_SCHEMA_DIR [OLDER_SCHEMA_DIR ...]` regenerates
/// `Sources/KafkaCodec/Generated`; `scripts/generate-codec.sh` runs it on the snapshots in `../shared`.
@main
struct KafkaCodecGeneratorCommand {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 2 else {
            FileHandle.standardError.write(Data(
                "usage: kafka-codec-generator OUTPUT_DIR NEWEST_SCHEMA_DIR [OLDER_SCHEMA_DIR ...]\n".utf8))
            exit(64)
        }
        let output = arguments[0]
        do {
            let count = try CodecGenerator.write(
                snapshots: arguments.dropFirst().map { URL(fileURLWithPath: $0) },
                outputDirectory: URL(fileURLWithPath: output)
            )
            print("wrote \(count) files to \(output)")
        } catch {
            FileHandle.standardError.write(Data("kafka-codec-generator: \(error)\n".utf8))
            exit(1)
        }
    }
}
