import Foundation

/// What finally happened to one disclosed token.
public enum DisclosureOutcome: String, Sendable, Codable, CaseIterable {
    /// We issued the token, it was live, and it is now revoked (by this disclosure).
    case revoked
    /// We issued the token and it was already revoked (by an earlier disclosure or by its owner).
    case duplicate
    /// The token is well-formed but we never issued it.
    case notFound = "not_found"
    /// The item or the token is malformed (no token, too long, not decodable for its type).
    case invalidFormat = "invalid_format"
    /// Neither the reported type nor the token's prefix matches a configured token type.
    case unknownType = "unknown_type"
    /// Processing failed after every retry.
    case error

    /// The finished outcomes a disclosure about one of our tokens can have (the others mean it was not):
    /// what a user's listing shows besides pending disclosures. The database indexes only these.
    public static let listedForUser: Set<DisclosureOutcome> = [.revoked, .duplicate, .error]
}

/// The audit record of one disclosed item. Never holds the raw token: `tokenHash` is its SHA-256 hex.
public struct DisclosureRecord: Sendable, Equatable {
    /// Assigned by the queue when the record is stored.
    public var id: Int64?
    /// The configured vendor id that sent the report.
    public var vendor: String
    /// SHA-256 hex of the raw token; empty when the item carried no token.
    public var tokenHash: String
    /// The token type it was classified as, or the reported type when it could not be classified.
    public var tokenType: String
    /// The identity a `TokenStore` finds the token by (a macaroon id, a token's SHA-256); nil when not derivable.
    public var identity: String?
    public var url: String
    public var source: String?
    public var receivedAt: Date
    /// Set when the outcome is known at intake (malformed, unknown type) or once a worker finishes.
    public var outcome: DisclosureOutcome?
    /// A short reason for `invalid_format`, `unknown_type` or `error`; never contains the token.
    public var detail: String?

    public init(id: Int64? = nil, vendor: String, tokenHash: String, tokenType: String, identity: String?,
                url: String, source: String?, receivedAt: Date, outcome: DisclosureOutcome? = nil, detail: String? = nil) {
        self.id = id
        self.vendor = vendor
        self.tokenHash = tokenHash
        self.tokenType = tokenType
        self.identity = identity
        self.url = url
        self.source = source
        self.receivedAt = receivedAt
        self.outcome = outcome
        self.detail = detail
    }
}

/// A disclosure waiting for a worker. Claimed under a lease: a worker that dies lets the lease lapse
/// and another worker takes the job again.
public struct DisclosureJob: Sendable, Equatable {
    public var id: Int64
    public var disclosure: DisclosureRecord
    /// How many times the job has been claimed, this claim included.
    public var attempts: Int

    public init(id: Int64, disclosure: DisclosureRecord, attempts: Int) {
        self.id = id
        self.disclosure = disclosure
        self.attempts = attempts
    }
}

/// A token we issued, as the store knows it. The raw token is never stored: only its identity.
public struct IssuedToken: Sendable, Equatable {
    /// Stable id (for PyPI tokens, the macaroon identifier UUID).
    public var id: String
    /// The token type (`pypi_api_token`, …).
    public var type: String
    /// The identity the token is found by.
    public var identity: String
    public var user: String
    /// The owner's email addresses, primary first.
    public var emails: [String]
    public var description: String
    public var createdAt: Date
    public var revokedAt: Date?
    /// The disclosure that revoked it, when a leak report did.
    public var revokedByDisclosure: Int64?

    public init(id: String, type: String, identity: String, user: String, emails: [String], description: String,
                createdAt: Date, revokedAt: Date? = nil, revokedByDisclosure: Int64? = nil) {
        self.id = id
        self.type = type
        self.identity = identity
        self.user = user
        self.emails = emails
        self.description = description
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.revokedByDisclosure = revokedByDisclosure
    }
}

/// A security event on a user's account (Warehouse's tags, e.g. `account:api_token:removed_leak`).
public struct SecurityEvent: Sendable, Equatable {
    public var tag: String
    public var user: String
    public var time: Date
    /// Flat string data: vendor, public URL, token id, description… never a raw token.
    public var data: [String: String]
    /// Makes recording idempotent: a second event with the same key is ignored. Nil: always recorded.
    public var idempotencyKey: String?

    public init(tag: String, user: String, time: Date, data: [String: String], idempotencyKey: String? = nil) {
        self.tag = tag
        self.user = user
        self.time = time
        self.data = data
        self.idempotencyKey = idempotencyKey
    }
}

/// Well-known event tags.
public enum SecurityEventTag {
    public static let tokenRemovedLeak = "account:api_token:removed_leak"
    public static let emailSent = "account:email:sent"
}

/// An email as the outbox keeps it and a `MailSink` delivers it.
public struct MailMessage: Sendable, Equatable {
    /// Globally unique; also the RFC 5322 Message-ID (without angle brackets). Delivery is idempotent per id.
    public var messageID: String
    public var from: String
    public var to: [String]
    public var subject: String
    /// Plain text, LF line endings (sinks convert to CRLF where the transport needs it).
    public var body: String
    public var date: Date
    /// The user the mail is about, for the `account:email:sent` event.
    public var user: String

    public init(messageID: String, from: String, to: [String], subject: String, body: String, date: Date, user: String) {
        self.messageID = messageID
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
        self.date = date
        self.user = user
    }
}

/// An outbox entry claimed for delivery.
public struct OutboxEntry: Sendable, Equatable {
    public var id: Int64
    public var message: MailMessage
    /// Delivery attempts so far, this one included.
    public var attempts: Int

    public init(id: Int64, message: MailMessage, attempts: Int) {
        self.id = id
        self.message = message
        self.attempts = attempts
    }
}
