import SpoolCore
import SpoolProtocol

/// The entries of a stream between two positions, read with XRANGE in batches on the shared
/// connection. While one batch is consumed the next is already requested, so a replay streams at
/// the server's speed rather than one round trip per batch. A broken connection is retried from
/// the last entry delivered.
public struct ReplaySequence: AsyncSequence, Sendable {
    public typealias Element = Entry
    public typealias Failure = SpoolClientError

    let client: SpoolClient
    let stream: String
    let start: StreamPosition
    let end: StreamPosition
    let batchSize: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(sequence: self)
    }

    /// The same entries a batch at a time (as the server sends them).
    public var batches: Batches { Batches(sequence: self) }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = Entry
        public typealias Failure = SpoolClientError

        private var batches: Batches.Iterator
        private var buffer: [Entry] = []
        private var index = 0

        init(sequence: ReplaySequence) {
            batches = Batches.Iterator(sequence: sequence)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> Entry? {
            while index == buffer.count {
                guard let batch = try await batches.next(isolation: actor) else { return nil }
                buffer = batch
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }

        public mutating func next() async throws(SpoolClientError) -> Entry? {
            try await next(isolation: nil)
        }
    }

    public struct Batches: AsyncSequence, Sendable {
        public typealias Element = [Entry]
        public typealias Failure = SpoolClientError

        let sequence: ReplaySequence

        public func makeAsyncIterator() -> Iterator { Iterator(sequence: sequence) }

        public struct Iterator: AsyncIteratorProtocol {
            public typealias Element = [Entry]
            public typealias Failure = SpoolClientError

            private let sequence: ReplaySequence
            /// Where the next batch starts; nil once the last batch was handed out.
            private var nextStart: StreamPosition?
            private var prefetch: Task<Result<[Entry], SpoolClientError>, Never>?

            init(sequence: ReplaySequence) {
                self.sequence = sequence
                nextStart = sequence.start
            }

            public mutating func next(isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> [Entry]? {
                guard let start = nextStart else { return nil }
                let task = prefetch ?? fetch(from: start)
                prefetch = nil
                let batch: [Entry]
                do throws(SpoolClientError) {
                    batch = try await task.value.get()
                } catch {
                    nextStart = nil
                    throw error
                }
                if batch.count < sequence.batchSize || batch.isEmpty {
                    nextStart = nil
                } else {
                    let following = StreamPosition.after(batch[batch.count - 1].id)
                    nextStart = following
                    prefetch = fetch(from: following)
                }
                return batch.isEmpty ? nil : batch
            }

            public mutating func next() async throws(SpoolClientError) -> [Entry]? {
                try await next(isolation: nil)
            }

            private func fetch(from start: StreamPosition) -> Task<Result<[Entry], SpoolClientError>, Never> {
                let sequence = sequence
                return Task {
                    do throws(SpoolClientError) {
                        return .success(
                            try await sequence.client.range(
                                sequence.stream, from: start, to: sequence.end, count: sequence.batchSize))
                    } catch {
                        return .failure(error)
                    }
                }
            }
        }
    }
}
