/// What runs on the storage thread around the log store: the server's command executor, or the
/// store itself for plain appenders. Created on the storage thread and never leaves it.
public protocol StorageContext: AnyObject, SendableMetatype {
    associatedtype Outcome: Sendable

    /// After the batch's jobs ran and before it commits: outcomes of work the batch made possible
    /// (blocked readers the new entries satisfy, waits that timed out). Their replies wait for the
    /// batch's flush like the jobs' own.
    func batchWillCommit(nowNanoseconds: UInt64) throws(WiredTigerError) -> [DeferredOutcome<Outcome>]

    /// The monotonic time (nanoseconds) at which `batchWillCommit` must run even if no job arrives.
    var nextDeadlineNanoseconds: UInt64? { get }

    /// The batch rolled back, or was refused because the store has failed for good (its jobs and
    /// the outcomes `batchWillCommit` returned have failed): whatever the context holds beyond the
    /// store's own catalog may be wrong or never complete. Returns outcomes to deliver at once for
    /// work it held from earlier batches.
    func batchDidRollBack(_ error: StorageError) -> [Outcome]

    /// Values the context is done with whose freeing can wait (e.g. commands of work it held
    /// across batches): after a batch that wrote they go with it to the flush thread, which lets
    /// go of them after its fsync (to `release`, if the engine has one).
    func takeRetired() -> [any Sendable]
}

extension StorageContext {
    public func batchWillCommit(nowNanoseconds: UInt64) throws(WiredTigerError) -> [DeferredOutcome<Outcome>] {
        []
    }
    public var nextDeadlineNanoseconds: UInt64? { nil }
    public func batchDidRollBack(_ error: StorageError) -> [Outcome] { [] }
    public func takeRetired() -> [any Sendable] { [] }
}

/// An outcome produced outside a job (a blocked reader served or timed out).
public struct DeferredOutcome<Outcome: Sendable> {
    public var outcome: Outcome
    /// A commit generation that must be durable first, besides whatever the batch read or wrote
    /// (e.g. writes made before the reader blocked).
    public var minimumTag: UInt64
    /// The outcome to deliver instead should the flush fail.
    public var fail: @Sendable (StorageError) -> Outcome
    /// Delivered once the batch commits, without waiting for its flush whatever the batch wrote:
    /// a cluster leader's entries going to its followers (they are committed only once a majority
    /// synced them), a reply to a write already durable on a majority.
    public var afterCommitOnly: Bool

    public init(
        outcome: Outcome, minimumTag: UInt64, afterCommitOnly: Bool = false, fail: @escaping @Sendable (StorageError) -> Outcome
    ) {
        self.outcome = outcome
        self.minimumTag = minimumTag
        self.afterCommitOnly = afterCommitOnly
        self.fail = fail
    }
}
