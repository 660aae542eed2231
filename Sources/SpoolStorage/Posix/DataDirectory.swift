#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks a data directory before WiredTiger touches it, so a wrong path never gets a database
/// written into it.
enum DataDirectory {
    enum State { case fresh, existingDatabase }

    static func prepare(_ path: String, createIfMissing: Bool) throws(StorageError) -> State {
        var info = stat()
        if stat(path, &info) != 0 {
            let code = errno
            guard code == ENOENT else { throw .directory("\(path): \(String(cString: strerror(code)))") }
            guard createIfMissing else { throw .directory("\(path) does not exist") }
            if mkdir(path, 0o700) != 0 {
                throw .directory("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            return .fresh
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw .directory("\(path) is not a directory") }
        guard access(path, R_OK | W_OK | X_OK) == 0 else {
            throw .directory("\(path): \(String(cString: strerror(errno)))")
        }
        let names = try entries(path)
        if names.contains("WiredTiger") { return .existingDatabase }
        guard names.isEmpty else {
            throw .notSpoolData(
                "\(path) is not empty and holds no database (found \(names.sorted().prefix(3).joined(separator: ", ")))")
        }
        guard createIfMissing else { throw .notSpoolData("\(path) holds no database") }
        return .fresh
    }

    private static func entries(_ path: String) throws(StorageError) -> [String] {
        guard let dir = opendir(path) else {
            throw .directory("\(path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
