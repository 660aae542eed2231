// Appends to a store as fast as group commit allows and writes one line per acknowledged entry
// to stdout ("<id> <number>\n") the moment its completion fires. The crash tests SIGKILL this
// process at random moments and check that every line it wrote names an entry that survived.
// The first write the store refuses (a full disk) ends it with status 3 and the error on stderr.
//
// usage: spool-crash-writer <data-dir> [appenders] [in-flight-per-appender]
//        spool-crash-writer --backfill <data-dir> <stream> <id>...
// The second form writes entries ("b" = id) into the stream's backfill table through the store
// API (ids below every live entry), so tests can read a stream that spans both tables.
import SpoolCore
import SpoolStorage

#if canImport(Glibc)
    import Glibc
#endif

enum CrashWriter {
    /// The payload of entry number n: deterministic, so a reader can check it byte for byte.
    static func payload(_ n: UInt64) -> [UInt8] {
        (0..<(16 + Int(n % 97))).map { UInt8(truncatingIfNeeded: n &* 31 &+ UInt64($0)) }
    }

    static let stream = Array("crash".utf8)

    static func backfill(_ arguments: [String]) -> Never {
        guard arguments.count >= 5 else {
            writeAll(2, "usage: spool-crash-writer --backfill <data-dir> <stream> <id>...\n")
            exit(2)
        }
        let name = Array(arguments[3].utf8)
        let ids = arguments[4...].compactMap { EntryID($0) }
        guard ids.count == arguments.count - 4 else {
            writeAll(2, "invalid id\n")
            exit(2)
        }
        let store: Store
        do {
            store = try Store.open(StorageOptions(directory: arguments[2]))
        } catch {
            writeAll(2, "open failed: \(error)\n")
            exit(1)
        }
        let done = CountingSemaphore(value: 0)
        store.perform({ (log: LogStore) throws(WiredTigerError) -> String? in
            let target = try log.streamForWriting(creating: name)
            for id in ids {
                do {
                    if case .failure(let rejection) = try log.appendBackfill(target, id: id, fields: [Array("b".utf8), id.bytes]) {
                        return "\(id): \(rejection)"
                    }
                } catch let error as WiredTigerError {
                    throw error
                } catch {
                    return "\(error)"
                }
            }
            return nil
        }) { result in
            switch result {
            case .success(nil): writeAll(1, "ok\n")
            case .success(let rejection?): writeAll(2, "rejected \(rejection)\n")
            case .failure(let error): writeAll(2, "failed \(error)\n")
            }
            done.signal()
        }
        done.wait()
        store.shutdown()
        exit(0)
    }

    static func run() {
        let arguments = CommandLine.arguments
        if arguments.count > 1 && arguments[1] == "--backfill" { backfill(arguments) }
        guard arguments.count >= 2 else {
            writeAll(2, "usage: spool-crash-writer <data-dir> [appenders] [in-flight]\n")
            exit(2)
        }
        let appenders = arguments.count > 2 ? Int(arguments[2]) ?? 4 : 4
        let inFlight = arguments.count > 3 ? Int(arguments[3]) ?? 64 : 64
        var options = StorageOptions(directory: arguments[1])
        options.checkpointIntervalSeconds = 1
        let store: Store
        do {
            store = try Store.open(options)
        } catch {
            writeAll(2, "open failed: \(error)\n")
            exit(1)
        }
        writeAll(1, "ready\n")
        let threads = (0..<appenders).map { _ in
            NativeThread(name: "appender") {
                let slots = CountingSemaphore(value: inFlight)
                while true {
                    slots.wait()
                    store.perform(append) { result in
                        // Unbuffered: once written, the line survives a SIGKILL that follows.
                        switch result {
                        case .success(let (id, number)): writeAll(1, "\(id) \(number)\n")
                        case .failure(let error):
                            // A refused write (a full disk): say why and stop at once.
                            writeAll(2, "failed \(error)\n")
                            _exit(3)
                        }
                        slots.signal()
                    }
                }
            }
        }
        threads.forEach { $0.join() }
    }

    @Sendable static func append(_ log: LogStore) throws(WiredTigerError) -> (EntryID, UInt64) {
        let target = try log.streamForWriting(creating: stream)
        let number = target.entriesAdded + 1
        let id = EntryID.generated(after: target.lastID, nowMilliseconds: wallClockMilliseconds())!
        try log.append(
            target, id: id,
            fields: [Array("n".utf8), Array(String(number).utf8), Array("p".utf8), payload(number)])
        return (id, number)
    }
}

CrashWriter.run()
