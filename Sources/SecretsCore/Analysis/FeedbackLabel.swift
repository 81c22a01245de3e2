/// One disclosure as `DisclosureAnalyzer.accept` stored it.
public struct AcceptedDisclosure: Sendable, Equatable {
    /// The stored record, with its id; `outcome` is set when intake already decided it.
    public var record: DisclosureRecord
    /// The configured token type it was classified as; nil when no type matched.
    public var tokenType: String?

    public init(record: DisclosureRecord, tokenType: String?) {
        self.record = record
        self.tokenType = tokenType
    }

    /// Whether a worker will process it (intake did not decide it).
    public var isQueued: Bool { record.outcome == nil }
}

/// GitHub's feedback format for one reported token: was it really one of ours?
public struct FeedbackLabel: Sendable, Equatable {
    public enum Label: String, Sendable, Equatable {
        case truePositive = "true_positive"
        case falsePositive = "false_positive"
    }

    /// SHA-256 hex of the token, as the vendor can compute it too.
    public var tokenHash: String
    public var tokenType: String
    public var label: Label

    public init(tokenHash: String, tokenType: String, label: Label) {
        self.tokenHash = tokenHash
        self.tokenType = tokenType
        self.label = label
    }

    /// `[{"token_hash":…,"token_type":…,"label":…}, …]` as UTF-8.
    public static func encode(_ labels: [FeedbackLabel]) -> [UInt8] {
        var text = "["
        for (i, item) in labels.enumerated() {
            if i > 0 { text += "," }
            text += "{\"token_hash\":\(JSONText.quote(item.tokenHash)),\"token_type\":\(JSONText.quote(item.tokenType)),"
            text += "\"label\":\(JSONText.quote(item.label.rawValue))}"
        }
        text += "]"
        return Array(text.utf8)
    }
}
