/// The version `kafkascope --version` and `kafkascope_build_info` report.
public enum KafkascopeVersion {
    public static let current = "0.4.0"
}
