/// What runs on the storage thread around the log store: the server's command executor, or the
/// store itself for plain appenders. Created on the storage thread and never leaves it.
public protocol StorageContext: AnyObject, SendableMetatype {
    associatedtype Outcome: Sendable

    /// After the batch's jobs ran and before it commits: outcomes of work the batch made possible
    /// (blocked readers the new entries satisfy, waits that timed out). Their replies wait for the
    /// batch's flush like the jobs' own.
    /// Each comes with the outcome to deliver instead should the flush fail.
    func batchWillCommit(nowNanoseconds: UInt64) throws(WiredTigerError)
        -> [(Outcome, @Sendable (StorageError) -> Outcome)]

    /// The monotonic time (nanoseconds) at which `batchWillCommit` must run even if no job arrives.
    var nextDeadlineNanoseconds: UInt64? { get }
}

extension StorageContext {
    public func batchWillCommit(nowNanoseconds: UInt64) throws(WiredTigerError)
        -> [(Outcome, @Sendable (StorageError) -> Outcome)]
    { [] }
    public var nextDeadlineNanoseconds: UInt64? { nil }
}
