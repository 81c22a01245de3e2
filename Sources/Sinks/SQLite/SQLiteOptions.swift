/// How `SQLiteStorage` opens its database file. Every field has a documented default.
public struct SQLiteOptions: Sendable {
    /// What a committed transaction survives.
    public enum Durability: String, Sendable, CaseIterable {
        /// `synchronous=NORMAL` in WAL mode: a commit survives the death of the process (kill -9, crash);
        /// the last commits before an OS crash or power loss may be lost (the file stays consistent).
        case process
        /// `synchronous=FULL`: every commit is fsync'ed to the WAL before it returns, so it also survives
        /// an OS crash or power loss. Costs one fsync per transaction (group commit shares it).
        case powerLoss = "power_loss"
    }

    /// Default `.process`, which is what "durable before the answer" requires.
    public var durability: Durability
    /// How long a statement waits for another process's lock before failing with a transient error.
    /// Default 5 s.
    public var busyTimeout: Duration
    /// Connections kept for reads (WAL readers never block the writer, nor it them). Default 4; 1 to 64.
    public var readerCount: Int
    /// WAL frames (pages) left after a background checkpoint beyond which the writer restarts the WAL
    /// from its beginning between two transactions, so the file stays about this size under steady
    /// writes (`SQLiteCheckpointer`). Default 4,096 (16 MB of 4 KB pages).
    public var walRestartFrames: Int
    /// How often the background checkpoint runs. Default 250 ms.
    public var checkpointInterval: Duration

    public init(durability: Durability = .process, busyTimeout: Duration = .milliseconds(5000), readerCount: Int = 4,
                walRestartFrames: Int = 4096, checkpointInterval: Duration = .milliseconds(250)) {
        self.durability = durability
        self.busyTimeout = busyTimeout
        self.readerCount = readerCount
        self.walRestartFrames = walRestartFrames
        self.checkpointInterval = checkpointInterval
    }
}
