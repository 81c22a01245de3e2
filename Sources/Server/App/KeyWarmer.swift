import Foundation
import SecretsCore
import Synchronization

/// Fetches every vendor's keys at start-up, and again every few seconds for a vendor that still has
/// none, so the first report does not wait on the vendor's API and `/readyz` turns ready by itself.
final class KeyWarmer: Sendable {
    private let vendors: VendorSet
    private let logger: Logger
    private let stopped = Mutex(false)
    private let retryInterval: Duration

    init(vendors: VendorSet, logger: Logger, retryInterval: Duration = .seconds(5)) {
        self.vendors = vendors
        self.logger = logger
        self.retryInterval = retryInterval
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "tokenscan-key-warmer"
        thread.start()
    }

    func stop() { stopped.withLock { $0 = true } }

    private func run() {
        var pending = vendors.all
        while !pending.isEmpty && !stopped.withLock({ $0 }) {
            pending = pending.filter { vendor in
                if vendor.keyCache.status.hasKeys { return false }
                if vendor.keyCache.refresh() {
                    logger.info("vendor keys fetched", ["vendor": vendor.id,
                                                        "keys": String(vendor.keyCache.status.keyIdentifiers.count)])
                    return false
                }
                logger.warning("vendor keys unavailable", ["vendor": vendor.id,
                                                           "error": vendor.keyCache.status.lastError ?? "unknown"])
                return true
            }
            // Sleep in short steps so stop() is prompt.
            var slept = Duration.zero
            while slept < retryInterval && !pending.isEmpty && !stopped.withLock({ $0 }) {
                Thread.sleep(forTimeInterval: 0.1)
                slept += .milliseconds(100)
            }
        }
    }
}
