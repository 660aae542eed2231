import Foundation
import Testing
import SpoolCore
@testable import SpoolStorage

/// A real full disk: a small tmpfs mounted for the test (the suite runs as root, as CI does).
@Suite struct DiskFullTests {
    /// The writer runs in a child process: a WiredTiger that panicked cannot be closed, so the
    /// directory can only be reopened by another process.
    @Test func fullDiskFailsWritesClearlyAndKeepsEveryAcknowledgedEntry() async throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        try run("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", dir.path])
        defer { try? run("/bin/umount", ["-l", dir.path]) }
        let data = dir.path + "/data"

        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: CrashTests.writerPath)
        writer.arguments = [data, "4", "64"]
        let output = Pipe()
        let errors = Pipe()
        writer.standardOutput = output
        writer.standardError = errors
        try writer.run()
        // It writes until the disk is full, then exits on the first refused write; reading its
        // output to the end waits for that.
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 3, "writer exited \(writer.terminationStatus): \(complaint)")
        #expect(
            complaint.contains("No space left on device") || complaint.contains("WT_PANIC")
                || complaint.contains("fsync failed"), "\(complaint)")
        var acknowledged: [EntryID] = []
        for line in printed.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let id = EntryID(String(parts[0]), missingSequence: .reject) { acknowledged.append(id) }
        }
        #expect(acknowledged.count > 100)

        // Make room and reopen: every acknowledged entry is there.
        try run("/bin/mount", ["-o", "remount,size=256m", dir.path])
        let store = try Store.open(StorageOptions(directory: data))
        defer { store.shutdown() }
        let present = Set(try await store.ids("crash"))
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
