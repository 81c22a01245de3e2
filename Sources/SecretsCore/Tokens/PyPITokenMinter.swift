import Foundation

/// A token just minted: the value to hand to its owner once, and the identity to store.
public struct MintedToken: Sendable, Equatable {
    /// The token itself. A secret: show it to the owner once, never store or log it.
    public let value: String
    /// The identity a `TokenStore` finds it by (for PyPI tokens, the macaroon identifier UUID).
    public let identity: String
}

/// Mints PyPI API tokens as Warehouse does: a V2 macaroon for a fresh random UUID identifier, signed with
/// the root key, serialized, base64url without padding, behind `pypi-`.
public struct PyPITokenMinter: Sendable {
    public let rootKey: [UInt8]
    public let location: String

    /// `rootKey` is this installation's secret (see `TokenStore.installationSecret`); 32 random bytes is usual.
    public init(rootKey: [UInt8], location: String = "pypi.org") {
        self.rootKey = rootKey
        self.location = location
    }

    /// A new token with a random (version 4) UUID identifier and these first-party caveats.
    public func mint(caveats: [String] = []) -> MintedToken {
        mint(identifier: UUID(), caveats: caveats)
    }

    /// A token for exactly this identifier (tests and migrations).
    public func mint(identifier: UUID, caveats: [String] = []) -> MintedToken {
        let id = identifier.uuidString.lowercased()
        let macaroon = Macaroon(rootKey: rootKey, location: location, identifier: id, caveats: caveats)
        return MintedToken(value: Self.token(for: macaroon), identity: id)
    }

    /// `pypi-` + base64url (no padding) of the macaroon's V2 serialization.
    public static func token(for macaroon: Macaroon) -> String {
        PyPITokenType.prefix + Base64.encodeURLSafe(macaroon.serializedV2())
    }
}
