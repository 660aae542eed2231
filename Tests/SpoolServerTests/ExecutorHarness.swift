import Foundation
import Synchronization
import SpoolProtocol
@testable import SpoolServer
@testable import SpoolStorage

/// Runs storage commands through the real `Executor` on a real store in a temporary directory,
/// with no sockets and no loop thread: each `send` is one command group of one "connection", and
/// its replies come back decoded once the storage engine delivers them (after their fsync).
final class ExecutorHarness: Sendable {
    private let directory: String
    private let engine: StorageEngine<Executor>
    private let mailbox = Mailbox()
    private let nextSlot = Atomic<UInt64>(1)

    /// Replies that arrived, and readers waiting for theirs; filled by the storage engine's threads.
    final class Mailbox: Sendable {
        let waiting = Mutex<[Slot: CheckedContinuation<[RESPValue], Never>]>([:])
        let arrived = Mutex<[Slot: [UInt8]]>([:])
    }

    struct Slot: Hashable, Sendable {
        let connection: UInt64
        let slot: UInt64
    }

    init(limits: Executor.Limits = Executor.Limits(readCountMax: 1_000_000)) throws {
        directory = NSTemporaryDirectory() + "spool-server-test-" + UUID().uuidString
        let mailbox = self.mailbox
        engine = try StorageEngine<Executor>(
            options: StorageOptions(directory: directory),
            makeContext: { Executor(store: $0, limits: limits) },
            deliver: { outcomes in
                for outcome in outcomes where outcome.kind == .reply {
                    let slot = Slot(connection: outcome.connection, slot: outcome.slot)
                    let resume = mailbox.waiting.withLock { $0.removeValue(forKey: slot) }
                    if let resume {
                        resume.resume(returning: Self.decode(outcome.bytes))
                    } else {
                        mailbox.arrived.withLock { $0[slot] = outcome.bytes }
                    }
                }
            })
    }

    func shutdown() {
        engine.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Submits one group (a transaction when `transaction`) and returns its slot.
    @discardableResult
    func submit(
        _ commands: [[String]], connection: UInt64 = 1, database: Int = 0, version: RESPVersion = .resp2,
        transaction: Bool = false
    ) -> Slot {
        let slot = Slot(connection: connection, slot: nextSlot.add(1, ordering: .relaxed).oldValue)
        var group = CommandGroup(
            connection: connection, slot: slot.slot, version: version, database: database,
            commands: commands.map { Self.decode(command: $0.map { Array($0.utf8) }, version: version) })
        group.isTransaction = transaction
        let ready = group
        let failure = Executor.failure(connection: connection, slot: slot.slot, version: version, replies: ready.replyCount)
        engine.submit({ (executor: Executor) throws(WiredTigerError) -> ServerOutcome in try executor.run(ready) }, onFailure: failure)
        return slot
    }

    func control(_ message: StorageControl) {
        engine.submit({ (executor: Executor) throws(WiredTigerError) -> ServerOutcome in executor.handle(message) }) { _ in
            ServerOutcome(kind: .nothing, connection: 0, slot: 0, bytes: [])
        }
    }

    /// The replies of a submitted group, once delivered.
    func replies(_ slot: Slot) async -> [RESPValue] {
        await withCheckedContinuation { continuation in
            let early = mailbox.arrived.withLock { $0.removeValue(forKey: slot) }
            if let early {
                continuation.resume(returning: Self.decode(early))
                return
            }
            mailbox.waiting.withLock { $0[slot] = continuation }
            // Delivered between the two looks: take it now.
            if let late = mailbox.arrived.withLock({ $0.removeValue(forKey: slot) }),
                let resume = mailbox.waiting.withLock({ $0.removeValue(forKey: slot) })
            {
                resume.resume(returning: Self.decode(late))
            }
        }
    }

    /// Whether the slot's replies were delivered (without waiting).
    func isDelivered(_ slot: Slot) -> Bool { mailbox.arrived.withLock { $0[slot] != nil } }

    /// One command's reply.
    func send(_ command: String..., connection: UInt64 = 1, database: Int = 0) async -> RESPValue {
        await replies(submit([command], connection: connection, database: database))[0]
    }

    /// A command as the loop thread decodes it; one it would answer itself (an option error) is
    /// `.answered`, as in a transaction.
    static func decode(command words: [[UInt8]], version: RESPVersion) -> Command {
        let args = RequestArguments(words)
        guard case .success(let found) = CommandTable.resolve(args), let name = found.top.storageName,
            found.command.acceptsArgumentCount(args.count)
        else {
            preconditionFailure("not a storage command the loop thread would pass on: \(args)")
        }
        switch Command.decode(name, args, databases: 16) {
        case .success(let command):
            return command
        case .failure(let error):
            var out = RESPWriter(version: version)
            out.error(error.text)
            return .answered(out)
        }
    }

    static func decode(_ bytes: [UInt8]) -> [RESPValue] {
        var decoder = RESPReplyDecoder()
        decoder.append(bytes)
        var values: [RESPValue] = []
        while let value = try? decoder.next() { values.append(value) }
        return values
    }
}

extension RESPValue {
    var text: String? {
        switch self {
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .simpleString(let text), .error(let text): return text
        default: return nil
        }
    }

    var elements: [RESPValue] {
        if case .array(let values) = self { return values }
        return []
    }

    var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}
