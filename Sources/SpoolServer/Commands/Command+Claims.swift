import SpoolCore
import SpoolProtocol

/// XPENDING, XCLAIM and XAUTOCLAIM, decoded on the loop thread. XPENDING and XAUTOCLAIM check their
/// options before their stream and group, as Redis does, so their errors are answered there. XCLAIM
/// checks the stream and group first: its option errors ride in the value (`options`) and are
/// answered where the group is found, in Redis's order.
extension Command {
    /// XPENDING key group [[IDLE min-idle] start end count [consumer]]
    struct XPending: Sendable {
        let key: [UInt8]
        let group: [UInt8]
        /// The extended form's range; nil for the summary.
        let range: Range?

        struct Range: Sendable {
            let minIdle: Int64
            let start: EntryID
            let end: EntryID
            let count: Int
            let consumer: [UInt8]?
        }
    }

    /// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
    struct XAutoClaim: Sendable {
        let key: [UInt8]
        let group: [UInt8]
        let consumer: [UInt8]
        let minIdle: Int64
        let start: EntryID
        let count: Int
        let justID: Bool
    }

    /// XCLAIM key group consumer min-idle-time id [id …] [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE]
    /// [JUSTID] [LASTID id]
    struct XClaim: Sendable {
        let key: [UInt8]
        let group: [UInt8]
        let consumer: [UInt8]
        let options: Result<Options, CommandErrorText>

        struct Options: Sendable {
            let minIdle: Int64
            let ids: [EntryID]
            /// IDLE ms or TIME ms, whichever came last.
            let deliveryTime: DeliveryTime?
            let retryCount: Int64?
            let force: Bool
            let justID: Bool
            let lastID: EntryID
        }

        enum DeliveryTime: Sendable {
            /// IDLE: this many ms before the claim.
            case idle(Int64)
            /// TIME: this Unix time in ms.
            case at(Int64)
        }
    }

    static func decodeXPending(_ args: [[UInt8]]) -> Result<Command, CommandErrorText> {
        let summary = args.count == 3
        guard summary || (args.count >= 6 && args.count <= 9) else { return .failure(CommandError.syntax) }
        guard !summary else { return .success(.xpending(XPending(key: args[1], group: args[2], range: nil))) }
        var minIdle: Int64 = 0
        var at = 3
        if args[3].isKeyword("IDLE") {
            guard let value = args[4].asInt64 else { return .failure(CommandError.notInteger) }
            minIdle = value
            guard args.count >= 8 else { return .failure(CommandError.syntax) }
            at += 2
        }
        guard at + 2 < args.count, let value = args[at + 2].asInt64 else { return .failure(CommandError.notInteger) }
        let start: EntryID
        let end: EntryID
        switch (parseRangeBound(args[at], isStart: true), parseRangeBound(args[at + 1], isStart: false)) {
        case (.failure(let error), _), (_, .failure(let error)): return .failure(error)
        case (.success(let s), .success(let e)):
            start = s
            end = e
        }
        if at + 4 < args.count { return .failure(CommandError.syntax) }
        let range = XPending.Range(
            minIdle: minIdle, start: start, end: end, count: Int(clamping: max(0, value)),
            consumer: at + 3 < args.count ? args[at + 3] : nil)
        return .success(.xpending(XPending(key: args[1], group: args[2], range: range)))
    }

    static func decodeXAutoClaim(_ args: [[UInt8]]) -> Result<Command, CommandErrorText> {
        guard let minIdle = args[4].asInt64 else { return .failure("ERR Invalid min-idle-time argument for XAUTOCLAIM") }
        let start: EntryID
        switch parseRangeBound(args[5], isStart: true) {
        case .failure(let error): return .failure(error)
        case .success(let id): start = id
        }
        var count = 100
        var justID = false
        var index = 6
        while index < args.count {
            let word = args[index]
            if word.isKeyword("COUNT") && index + 1 < args.count {
                guard let value = args[index + 1].asInt64, value >= 1, value <= Int64(Int.max / 16) else {
                    return .failure("ERR COUNT must be > 0")
                }
                count = Int(value)
                index += 2
            } else if word.isKeyword("JUSTID") {
                justID = true
                index += 1
            } else {
                return .failure(CommandError.syntax)
            }
        }
        return .success(.xautoclaim(XAutoClaim(
            key: args[1], group: args[2], consumer: args[3], minIdle: max(0, minIdle), start: start, count: count,
            justID: justID)))
    }

    static func decodeXClaim(_ args: [[UInt8]]) -> Command {
        .xclaim(XClaim(key: args[1], group: args[2], consumer: args[3], options: parseClaimOptions(args)))
    }

    private static func parseClaimOptions(_ args: [[UInt8]]) -> Result<XClaim.Options, CommandErrorText> {
        guard let minIdle = args[4].asInt64 else { return .failure("ERR Invalid min-idle-time argument for XCLAIM") }
        var ids: [EntryID] = []
        var index = 5
        while index < args.count, let id = EntryID(parsing: args[index], missingSequence: .zero) {
            ids.append(id)
            index += 1
        }
        var deliveryTime: XClaim.DeliveryTime?
        var retryCount: Int64?
        var force = false
        var justID = false
        var lastID = EntryID.zero
        while index < args.count {
            let word = args[index]
            let hasValue = index + 1 < args.count
            if word.isKeyword("FORCE") {
                force = true
            } else if word.isKeyword("JUSTID") {
                justID = true
            } else if word.isKeyword("IDLE") && hasValue {
                index += 1
                guard let value = args[index].asInt64 else { return .failure("ERR Invalid IDLE option argument for XCLAIM") }
                deliveryTime = .idle(value)
            } else if word.isKeyword("TIME") && hasValue {
                index += 1
                guard let value = args[index].asInt64 else { return .failure("ERR Invalid TIME option argument for XCLAIM") }
                deliveryTime = .at(value)
            } else if word.isKeyword("RETRYCOUNT") && hasValue {
                index += 1
                guard let value = args[index].asInt64 else { return .failure("ERR Invalid RETRYCOUNT option argument for XCLAIM") }
                retryCount = value
            } else if word.isKeyword("LASTID") && hasValue {
                index += 1
                guard let value = EntryID(parsing: args[index], missingSequence: .zero) else {
                    return .failure(CommandError.invalidStreamID)
                }
                lastID = value
            } else {
                return .failure("ERR Unrecognized XCLAIM option '\(word.asString)'")
            }
            index += 1
        }
        return .success(XClaim.Options(
            minIdle: max(0, minIdle), ids: ids, deliveryTime: deliveryTime, retryCount: retryCount, force: force,
            justID: justID, lastID: lastID))
    }
}
