import Foundation
import Synchronization
import SpoolCore
@testable import SpoolStorage

/// A fresh directory under the system temporary directory, removed when the test is done.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "spool-test-" + UUID().uuidString
    }

    var url: URL { URL(fileURLWithPath: path) }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension StorageEngine where Context == StoreContext {
    /// Runs `body` on the storage thread and returns once its result is durable.
    func run<T: Sendable>(_ body: @escaping @Sendable (LogStore) throws(WiredTigerError) -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            perform(body) { result in continuation.resume(with: result) }
        }
    }

    func append(_ stream: String, id: EntryID? = nil, _ fields: [String]) async throws -> EntryID {
        try await withCheckedThrowingContinuation { continuation in
            append(stream: Array(stream.utf8), id: id, fields: fields.map { Array($0.utf8) }) {
                continuation.resume(with: $0)
            }
        }
    }

    func ids(_ stream: String, from: EntryID = .min, to: EntryID = .max, direction: MergedCursor.Direction = .forward) async throws -> [EntryID] {
        try await run { (log: LogStore) throws(WiredTigerError) -> [EntryID] in
            guard let s = try log.streamForReading(Array(stream.utf8)) else { return [] }
            return try log.entries(s, from: from, to: to, direction: direction).map(\.id)
        }
    }
}

func id(_ ms: UInt64, _ seq: UInt64 = 0) -> EntryID { EntryID(milliseconds: ms, sequence: seq) }

/// Shared mutable test state that closures on the storage and flush threads can capture.
final class Locked<T: Sendable>: Sendable {
    private let mutex: Mutex<T>
    init(_ value: T) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout T) -> R) -> R { mutex.withLock { body(&$0) } }
}
