import SecretsCore
import Synchronization

/// Finds the series a call records into without taking a lock: a map from exactly what the caller passed
/// (name, counter or histogram, labels in the caller's order) to its `PrometheusSeries`.
///
/// An open-addressing table of entry addresses that only grows. Entries are added under `writer` and
/// never removed; an outgrown table stays allocated until the index is freed, so a reader that loaded it
/// can finish probing it. A reader that misses (a new call, or one added after it loaded the table) takes
/// `PrometheusMetrics`' locked path, which adds the entry. Several call shapes may lead to one series
/// (`mails_sent` and `mails_sent_total`, labels in another order).
final class PrometheusSeriesIndex: @unchecked Sendable {
    // @unchecked: the tables' slots are only touched through their atomics; everything else is in `writer`.

    private final class Entry {
        let hash: Int
        let name: String
        let histogram: Bool
        let labels: MetricLabels
        let series: PrometheusSeries

        init(hash: Int, name: String, histogram: Bool, labels: MetricLabels, series: PrometheusSeries) {
            self.hash = hash
            self.name = name
            self.histogram = histogram
            self.labels = labels
            self.series = series
        }

        func matches(_ hash: Int, _ name: String, _ histogram: Bool, _ labels: MetricLabels) -> Bool {
            self.hash == hash && self.histogram == histogram && self.name == name && self.labels == labels
        }
    }

    /// A power-of-two array of slots, each 0 or the address of an `Entry` that `Writer.entries` keeps alive.
    private final class Table {
        let mask: Int
        let slots: UnsafeMutablePointer<Atomic<UInt>>

        init(capacity: Int) {
            mask = capacity - 1
            slots = .allocate(capacity: capacity)
            for index in 0..<capacity { (slots + index).initialize(to: Atomic(0)) }
        }

        deinit {
            slots.deinitialize(count: mask + 1)
            slots.deallocate()
        }

        /// Stores `entry` in the first free slot from its hash; the caller has checked it is absent.
        func add(_ entry: Entry) {
            var slot = entry.hash & mask
            while slots[slot].load(ordering: .relaxed) != 0 { slot = (slot + 1) & mask }
            slots[slot].store(UInt(bitPattern: Unmanaged.passUnretained(entry).toOpaque()), ordering: .releasing)
        }
    }

    private struct Writer {
        var entries: [Entry] = []
        /// Every table made; the last is the published one.
        var tables: [Table]
    }

    /// The address of the current `Table`.
    private let published: Atomic<UInt>
    private let writer: Mutex<Writer>

    init(capacity: Int = 64) {
        let table = Table(capacity: capacity)
        published = Atomic(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
        writer = Mutex(Writer(tables: [table]))
    }

    /// Runs `body` on the series recorded for exactly this call and answers true; false if there is none yet.
    @inline(__always)
    func withSeries(hash: Int, name: String, histogram: Bool, labels: MetricLabels,
                    _ body: (PrometheusSeries) -> Void) -> Bool {
        // Unretained references: tables and entries live as long as `self`, and retaining them here would
        // make every thread write the same reference counts.
        let address = UnsafeRawPointer(bitPattern: published.load(ordering: .acquiring))!
        return Unmanaged<Table>.fromOpaque(address)._withUnsafeGuaranteedRef { table in
            var slot = hash & table.mask
            while true {
                guard let entryAddress = UnsafeRawPointer(bitPattern: table.slots[slot].load(ordering: .acquiring)) else {
                    return false
                }
                let found = Unmanaged<Entry>.fromOpaque(entryAddress)._withUnsafeGuaranteedRef { entry in
                    guard entry.matches(hash, name, histogram, labels) else { return false }
                    body(entry.series)
                    return true
                }
                if found { return true }
                slot = (slot + 1) & table.mask
            }
        }
    }

    /// Makes this call find `series` from now on (nothing if another thread added it first).
    func add(hash: Int, name: String, histogram: Bool, labels: MetricLabels, series: PrometheusSeries) {
        writer.withLock { writer in
            guard !withSeries(hash: hash, name: name, histogram: histogram, labels: labels, { _ in }) else { return }
            let entry = Entry(hash: hash, name: name, histogram: histogram, labels: labels, series: series)
            writer.entries.append(entry)
            var table = writer.tables[writer.tables.count - 1]
            if writer.entries.count * 2 > table.mask + 1 {
                table = Table(capacity: (table.mask + 1) * 2)
                for old in writer.entries { table.add(old) }
                writer.tables.append(table)
                published.store(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()), ordering: .releasing)
            } else {
                table.add(entry)
            }
        }
    }

    /// A hash of the call, cheap enough to compute on every call (not Hasher's SipHash: label values are
    /// vendor ids and reason words, not attacker-chosen).
    static func hash(_ name: String, histogram: Bool, _ labels: MetricLabels) -> Int {
        var hash: UInt64 = histogram ? 0x9E37_79B9_7F4A_7C15 : 0x2545_F491_4F6C_DD1D
        mix(&hash, name)
        labels.forEachLabel { label, value in
            mix(&hash, label)
            mix(&hash, value)
        }
        // MurmurHash3's finalizer, so the low bits used as the slot depend on every input bit.
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        hash &*= 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return Int(truncatingIfNeeded: hash)
    }

    /// Mixes in `text`'s length and UTF-8 bytes, 8 at a time.
    @inline(__always)
    private static func mix(_ hash: inout UInt64, _ text: String) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            let count = raw.count
            // The length goes in with the first word, so that ("ab", "c") and ("a", "bc") differ.
            if count >= 8 {
                step(&hash, raw.loadUnaligned(as: UInt64.self) &+ UInt64(count))
                var offset = 8
                while offset + 8 <= count {
                    step(&hash, raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    offset += 8
                }
                // The last 8 bytes, overlapping the words already read.
                if offset < count { step(&hash, raw.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)) }
            } else {
                var word = UInt64(count) << 56
                var offset = 0
                if count & 4 != 0 {
                    word |= UInt64(raw.loadUnaligned(as: UInt32.self))
                    offset = 4
                }
                if count & 2 != 0 {
                    word |= UInt64(raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) << (offset * 8)
                    offset += 2
                }
                if count & 1 != 0 { word |= UInt64(raw[offset]) << (offset * 8) }
                step(&hash, word)
            }
        }
        if done == nil {
            step(&hash, UInt64(text.utf8.count))
            for byte in text.utf8 { step(&hash, UInt64(byte)) }
        }
    }

    @inline(__always)
    private static func step(_ hash: inout UInt64, _ word: UInt64) {
        hash = (((hash << 5) | (hash >> 59)) ^ word) &* 0x517C_C1B7_2722_0A95
    }
}
