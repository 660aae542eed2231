import Foundation
import Testing
import SpoolCore
@testable import SpoolStorage

/// SIGKILLs a child process that appends with group commit and prints every acknowledged entry,
/// then reopens its directory and checks that every acknowledged entry survived: present, in
/// order, byte-exact, with no hole below the highest acknowledged one.
@Suite struct CrashTests {
    static var rounds: Int {
        Int(ProcessInfo.processInfo.environment["SPOOL_CRASH_ROUNDS"] ?? "") ?? 20
    }

    static var writerPath: String {
        // The test bundle lives in the same build directory as the tools.
        let bundle = Bundle.main.bundleURL.deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("spool-crash-writer").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        let build = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/spool-crash-writer")
        return build.path
    }

    @Test func everyAcknowledgedEntrySurvivesSigkill() async throws {
        let dir = TemporaryDirectory()
        var acknowledged: [EntryID: UInt64] = [:]
        var highestNumber: UInt64 = 0
        var generator = SystemRandomNumberGenerator()
        for round in 0..<Self.rounds {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.writerPath)
            process.arguments = [dir.path, "4", "64"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            // Kill only after the writer has opened (and so recovered) the store.
            let greeting = String(decoding: pipe.fileHandleForReading.readData(ofLength: 6), as: UTF8.self)
            #expect(greeting == "ready\n", "round \(round): writer did not start")
            let lifetime = UInt64.random(in: 10...300, using: &generator)
            try await Task.sleep(nanoseconds: lifetime * 1_000_000)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let lines = output.split(separator: "\n")
            // The last line may be cut off mid-write by the kill.
            for line in lines {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let id = EntryID(String(parts[0]), missingSequence: .reject),
                    let number = UInt64(parts[1])
                else { continue }
                acknowledged[id] = number
                highestNumber = max(highestNumber, number)
            }
            try verify(dir: dir.path, acknowledged: acknowledged, highestNumber: highestNumber, round: round)
        }
        #expect(acknowledged.count > 0)
    }

    private func verify(dir: String, acknowledged: [EntryID: UInt64], highestNumber: UInt64, round: Int) throws {
        let store = try Store.open(StorageOptions(directory: dir))
        defer { store.shutdown() }
        let semaphore = CountingSemaphore(value: 0)
        let found = Locked<[(EntryID, [[UInt8]])]>([])
        store.perform({ (log: LogStore) throws(WiredTigerError) -> [(EntryID, [[UInt8]])] in
            guard let s = try log.streamForReading(CrashWriter.stream) else { return [] }
            return try log.entries(s).map { ($0.id, $0.fields) }
        }) { result in
            if case .success(let entries) = result { found.withLock { $0 = entries } }
            semaphore.signal()
        }
        semaphore.wait()
        let entries = found.withLock { $0 }
        var previous = EntryID.zero
        var byID: [EntryID: UInt64] = [:]
        for (index, (id, fields)) in entries.enumerated() {
            #expect(id > previous, "round \(round): ids out of order at \(id)")
            previous = id
            let number = UInt64(String(decoding: fields[1], as: UTF8.self)) ?? 0
            // No holes: the n-th surviving entry is entry number n.
            #expect(number == UInt64(index + 1), "round \(round): entry \(index + 1) has number \(number)")
            #expect(fields[3] == CrashWriter.payload(number), "round \(round): payload of \(id) differs")
            byID[id] = number
        }
        #expect(UInt64(entries.count) >= highestNumber, "round \(round): \(entries.count) entries, \(highestNumber) acknowledged")
        let lost = acknowledged.filter { byID[$0.key] != $0.value }
        #expect(lost.isEmpty, "round \(round): \(lost.count) acknowledged entries lost, e.g. \(lost.first.map { "\($0.key)" } ?? "")")
    }
}

/// The crash writer's deterministic content, mirrored here.
enum CrashWriter {
    static let stream = Array("crash".utf8)
    static func payload(_ n: UInt64) -> [UInt8] {
        (0..<(16 + Int(n % 97))).map { UInt8(truncatingIfNeeded: n &* 31 &+ UInt64($0)) }
    }
}
