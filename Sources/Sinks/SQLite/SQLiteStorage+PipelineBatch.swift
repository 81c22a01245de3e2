import Foundation
import SecretsCore

extension SQLiteStorage: PipelineBatchStore {
    /// One write (group-committed like any other) for every request, each in its own savepoint, with
    /// `revoke`'s statements: a disclosure worker's whole claimed batch costs one transaction instead of one each.
    public func revoke(_ requests: [RevocationRequest], at time: Date) throws(StoreError) -> [Result<RevocationResult, StoreError>] {
        guard !requests.isEmpty else { return [] }
        return try write { connection in
            try Self.eachInSavepoint(requests, on: connection) { request in
                try Self.revoke(identity: request.identity, byDisclosure: request.disclosureID, at: time, on: connection)
            }
        }
    }

    /// One write for every completion, each in its own savepoint: `record`'s, `enqueue`'s and `finish`'s
    /// statements. A job that is gone rolls its item back (`.notFound`), so it leaves nothing behind.
    public func complete(_ completions: [JobCompletion]) throws(StoreError) -> [StoreError?] {
        guard !completions.isEmpty else { return [] }
        // JSON outside the writer: the group waits for its slowest piece.
        var encoded: [(events: [String], recipients: String?)] = []
        encoded.reserveCapacity(completions.count)
        for completion in completions {
            var events: [String] = []
            for event in completion.events { events.append(try JSONText.encode(event.data)) }
            encoded.append((events, try completion.mail.map { message throws(StoreError) in try JSONText.encode(message.to) }))
        }
        let work = Array(zip(completions, encoded))
        return try write { connection in
            try Self.eachInSavepoint(work, on: connection) { completion, json in
                for (event, data) in zip(completion.events, json.events) { try Self.insert(event, data: data, on: connection) }
                if let mail = completion.mail, let recipients = json.recipients {
                    try Self.insert(mail, recipients: recipients, on: connection)
                }
                try Self.finish(jobID: completion.jobID, outcome: completion.outcome, detail: completion.detail,
                                at: completion.time, on: connection)
            }.map(\.failure)
        }
    }

    /// One write for every delivery, each in its own savepoint: `markSent`'s statements, then `record`'s.
    public func markSent(_ deliveries: [MailDelivery]) throws(StoreError) -> [StoreError?] {
        guard !deliveries.isEmpty else { return [] }
        var data: [String?] = []
        data.reserveCapacity(deliveries.count)
        for delivery in deliveries {
            data.append(try delivery.event.map { event throws(StoreError) in try JSONText.encode(event.data) })
        }
        let work = Array(zip(deliveries, data))
        return try write { connection in
            try Self.eachInSavepoint(work, on: connection) { delivery, data in
                try Self.markSent(id: delivery.id, at: delivery.sentAt, on: connection)
                if let event = delivery.event, let data { try Self.insert(event, data: data, on: connection) }
            }.map(\.failure)
        }
    }

    /// Runs `body` for each item in its own savepoint, so a failing item is rolled back alone and answered
    /// with its error. Throws only when the savepoint statements themselves fail (the transaction is then
    /// rolled back as a whole by the caller).
    private static func eachInSavepoint<Item, Value>(_ items: [Item], on connection: SQLiteConnection,
                                                     _ body: (Item) throws -> Value) throws -> [Result<Value, StoreError>] {
        var results: [Result<Value, StoreError>] = []
        results.reserveCapacity(items.count)
        for item in items {
            try connection.run("SAVEPOINT item")
            do {
                let value = try body(item)
                try connection.run("RELEASE item")
                results.append(.success(value))
            } catch {
                try connection.run("ROLLBACK TO item")
                try connection.run("RELEASE item")
                results.append(.failure(StoreError(error)))
            }
        }
        return results
    }
}

private extension Result {
    /// The error, or nil on success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
