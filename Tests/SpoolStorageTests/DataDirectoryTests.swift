import Foundation
import Testing
import SpoolCore
@testable import SpoolStorage

@Suite struct DataDirectoryTests {
    @Test func foreignDirectoryIsRefusedAndLeftUntouched() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let precious = dir.path + "/notes.txt"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: precious))
        #expect {
            _ = try Store.open(StorageOptions(directory: dir.path))
        } throws: { error in
            guard case .notSpoolData(let why) = error as? StorageError else { return false }
            return why.contains("notes.txt")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["notes.txt"])
        #expect(try String(contentsOfFile: precious, encoding: .utf8) == "keep me")
    }

    @Test func pathThatIsAFileIsRefused() throws {
        let dir = TemporaryDirectory()
        try Data("x".utf8).write(to: dir.url)
        #expect {
            _ = try Store.open(StorageOptions(directory: dir.path))
        } throws: { error in
            guard case .directory(let why) = error as? StorageError else { return false }
            return why.contains("not a directory")
        }
    }

    @Test func missingParentIsRefused() throws {
        let dir = TemporaryDirectory()
        #expect(throws: StorageError.self) {
            _ = try Store.open(StorageOptions(directory: dir.path + "/a/b/c"))
        }
    }

    @Test func wiredTigerDatabaseWithoutSpoolMetadataIsRefused() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        // A WiredTiger database some other program made: no Spool metadata table.
        let connection = try WiredTigerConnection(directory: dir.path, config: "create")
        let session = try connection.openSession()
        try session.create("table:other", config: WiredTigerConfiguration.table)
        session.close()
        try connection.close()
        #expect {
            _ = try Store.open(StorageOptions(directory: dir.path))
        } throws: { error in
            guard case .notSpoolData = error as? StorageError else { return false }
            return true
        }
    }

    @Test func corruptMetadataFileGivesAClearErrorWithoutCrashing() async throws {
        let dir = TemporaryDirectory()
        do {
            let store = try Store.open(StorageOptions(directory: dir.path))
            _ = try await store.append("s", ["a", "b"])
            store.shutdown()
        }
        // Overwrite the turtle file (WiredTiger's root of metadata) with garbage.
        try Data(repeating: 0x41, count: 300).write(to: dir.url.appendingPathComponent("WiredTiger.turtle"))
        #expect(throws: StorageError.self) {
            _ = try Store.open(StorageOptions(directory: dir.path))
        }
    }
}
