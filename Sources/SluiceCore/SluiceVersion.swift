/// The version of sluice: `sluice --version`, the manifest's `tool_version`, and the default
/// `User-Agent` of its HTTP requests.
public enum SluiceVersion {
    public static let current = "0.1.0"
}
