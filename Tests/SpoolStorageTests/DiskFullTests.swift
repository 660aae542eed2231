import Foundation
import Testing
import SpoolCore
@testable import SpoolStorage

/// A real full disk: a small tmpfs mounted for the test (the suite runs as root, as CI does).
@Suite struct DiskFullTests {
    @Test func fullDiskFailsWritesClearlyAndKeepsEveryAcknowledgedEntry() async throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        try run("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", dir.path])
        defer { try? run("/bin/umount", ["-l", dir.path]) }
        let data = dir.path + "/data"
        var acknowledged: [EntryID] = []
        var firstError: StorageError?
        do {
            let store = try Store.open(StorageOptions(directory: data))
            let value = [UInt8](repeating: 0x5a, count: 4000)
            // Far more than 24 MiB: the disk fills long before this ends.
            outer: for round in 0..<2000 {
                let results = try await withThrowingTaskGroup(of: Result<EntryID, StorageError>.self) { group in
                    for n in 0..<32 {
                        group.addTask {
                            await withCheckedContinuation { continuation in
                                store.append(stream: Array("full".utf8), fields: [Array("n".utf8), Array(String(round * 32 + n).utf8), Array("v".utf8), value]) {
                                    continuation.resume(returning: $0)
                                }
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for result in results {
                    switch result {
                    case .success(let id): acknowledged.append(id)
                    case .failure(let error): firstError = firstError ?? error
                    }
                }
                if firstError != nil { break outer }
            }
            // Once failed, the store refuses everything with the same clear error.
            let later = await withCheckedContinuation { continuation in
                store.append(stream: Array("full".utf8), fields: [Array("a".utf8), Array("b".utf8)]) { continuation.resume(returning: $0) }
            }
            if case .success = later { Issue.record("a write succeeded after the disk filled") }
            store.shutdown()
        }
        let error = try #require(firstError, "the disk never filled")
        #expect("\(error)".contains("No space left on device") || "\(error)".contains("WT_PANIC") || "\(error)".contains("fsync failed"))
        #expect(acknowledged.count > 100)

        // Make room and reopen: every acknowledged entry is there.
        try run("/bin/mount", ["-o", "remount,size=256m", dir.path])
        let store = try Store.open(StorageOptions(directory: data))
        defer { store.shutdown() }
        let present = Set(try await store.ids("full"))
        let missing = acknowledged.filter { !present.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) acknowledged entries lost")
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("\(tool) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
    }
}
