import Foundation
import SecretsCore

/// Mints PyPI-format API tokens with this installation's root key and records them in the store.
///
/// The raw token is returned once to the caller and never stored: the store keeps its identity (the
/// macaroon identifier).
public struct TokenIssuer: Sendable {
    static let rootKeyName = "macaroon_root_key"

    let storage: Storage
    let minter: PyPITokenMinter
    let typeName: String

    public init(storage: Storage, configuration: Configuration) throws {
        self.storage = storage
        let pypi = configuration.tokenTypes.first { if case .pypi = $0 { return true } else { return false } }
        guard case .pypi(let name, let location)? = pypi else {
            throw ConfigurationError(path: "token_types", "no token type of kind \"pypi\" is configured, so tokens cannot be minted")
        }
        typeName = name
        minter = PyPITokenMinter(rootKey: try storage.tokens.installationSecret(named: Self.rootKeyName, length: 32), location: location)
    }

    /// Mints a token for `user` (created with `email` when new) and answers the raw token.
    public func issue(user: String, email: String, description: String, at time: Date = Date()) throws -> String {
        let minted = minter.mint()
        try storage.tokens.issue(IssuedToken(id: minted.identity, type: typeName, identity: minted.identity, user: user,
                                             emails: [email], description: description, createdAt: time))
        return minted.value
    }
}
