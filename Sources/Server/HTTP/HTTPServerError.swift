/// Why the HTTP server could not start.
public struct HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable { case invalidConfiguration, alreadyStarted, startFailed }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A configuration field is out of range or the host is not a numeric address.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// `start()` was called on a server that is running or was stopped (a server runs once).
        public static let alreadyStarted = Code(.alreadyStarted)
        /// libmicrohttpd refused to start (address in use, no permission, …); the message says why.
        public static let startFailed = Code(.startFailed)

        public var description: String {
            switch value {
            case .invalidConfiguration: "invalid configuration"
            case .alreadyStarted: "already started"
            case .startFailed: "start failed"
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "HTTP server: \(code): \(message)" }
}
