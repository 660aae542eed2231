import SpoolCore

/// The storage context for callers that use the store directly (tools, tests, embedding): each
/// outcome is the caller's own completion, run once its durability requirement is met.
public final class StoreContext: StorageContext {
    public struct Outcome: Sendable {
        let complete: @Sendable () -> Void
    }

    public let store: LogStore

    init(store: LogStore) {
        self.store = store
    }
}

public typealias Store = StorageEngine<StoreContext>

extension StorageEngine where Context == StoreContext {
    /// Opens a store whose completions run on the storage or flush thread.
    public static func open(_ options: StorageOptions) throws(StorageError) -> Store {
        try Store(
            options: options,
            makeContext: { StoreContext(store: $0) },
            deliver: { outcomes in for outcome in outcomes { outcome.complete() } })
    }

    /// Runs `body` on the storage thread inside the current batch's transaction; `completion` gets
    /// its result once every write it made (and every write it read) is durable, or the error that
    /// rolled the batch back.
    public func perform<T: Sendable>(
        _ body: @escaping @Sendable (LogStore) throws(WiredTigerError) -> T,
        completion: @escaping @Sendable (Result<T, StorageError>) -> Void
    ) {
        submit { (context: StoreContext) throws(WiredTigerError) -> StoreContext.Outcome in
            let value = try body(context.store)
            return StoreContext.Outcome(complete: { completion(.success(value)) })
        } onFailure: { error in
            StoreContext.Outcome(complete: { completion(.failure(error)) })
        }
    }

    /// Appends one entry to `stream` (created on first use) with `id`, or with a generated id when
    /// nil; completes with the id once the entry is durable.
    public func append(
        stream name: [UInt8], id: EntryID? = nil, fields: [[UInt8]],
        completion: @escaping @Sendable (Result<EntryID, StorageError>) -> Void
    ) {
        perform({ (store: LogStore) throws(WiredTigerError) -> EntryID? in
            let stream = try store.streamForWriting(creating: name)
            let chosen: EntryID?
            if let id {
                chosen = id > stream.lastID ? id : nil
            } else {
                chosen = EntryID.generated(after: stream.lastID, nowMilliseconds: store.nowMilliseconds)
            }
            guard let chosen else { return nil }
            try store.append(stream, id: chosen, fields: fields)
            return chosen
        }) { result in
            switch result {
            case .success(let id?): completion(.success(id))
            case .success(nil): completion(.failure(.rejected("id must be greater than the stream's last id")))
            case .failure(let error): completion(.failure(error))
            }
        }
    }
}

