import CLibUV
import Collections
import SpoolProtocol
import SpoolTLS

/// One client connection. Loop thread only: every property is owned by the event loop thread.
final class Connection {
    let id: UInt64
    let handle: UnsafeMutablePointer<uv_tcp_t>
    let address: String
    let createdAt: UInt64
    var decoder: RESPRequestDecoder
    var version: RESPVersion = .resp2
    var name: [UInt8]?
    /// The database SELECT chose (0 to `databases` - 1).
    var database = 0
    var libraryName = ""
    var libraryVersion = ""
    var isAuthenticated: Bool
    /// A connection to the TLS port: its TLS state (nil on the plain port).
    var tls: TLSSession?
    /// The ACL user the connection runs as (`default` until AUTH or HELLO … AUTH).
    var user: ACLUser
    var lastCommand = "NULL"
    var lastInteraction: UInt64

    /// MULTI state: queued commands, or nil outside a transaction.
    var transaction: [RequestArguments]?
    var transactionHasError = false
    /// Cluster mode: READONLY was sent (reads of shards this node replicates run here).
    var isReadOnly = false
    /// Cluster mode: reply slots of writes proposed to a shard's log and not answered yet.
    var proposalSlots: Set<UInt64> = []
    /// Cluster mode: consecutive commands for one shard read in this loop iteration, proposed
    /// together as one record (one log entry, one reply slot) when something else comes or the
    /// read ends.
    var openProposal: OpenProposal?

    struct OpenProposal {
        let shard: Int
        let slot: UInt64
        let version: RESPVersion
        var items: [ReplicatedRecord.Item]
    }

    /// Replies in request order. `slots[0]` has number `firstSlot`; nil means not ready yet.
    private(set) var slots = Deque<[UInt8]?>()
    private(set) var firstSlot: UInt64 = 0
    /// Bytes of ready replies waiting behind an unanswered slot (they count against the output limit).
    private(set) var heldBytes = 0
    /// Bytes ready to write, in order.
    var outbox: [UInt8] = []
    /// The slot of a group that ended in a blocking XREAD; no command runs until it is answered.
    var blockedSlot: UInt64?
    /// The blocking read `blockedSlot` waits on, checked again when its user's rights change.
    var blockedRequest: (spec: CommandSpec, args: RequestArguments)?
    /// CLIENT UNBLOCK asked the storage thread to answer the blocked read; a second UNBLOCK answers 0.
    var isUnblocking = false
    var isReadingPaused = false
    var isClosing = false
    /// Close once everything queued has been written (QUIT, protocol errors).
    var closeAfterWrite = false
    var isQueuedForFlush = false

    init(id: UInt64, handle: UnsafeMutablePointer<uv_tcp_t>, address: String, limits: RESPLimits,
         user: ACLUser, isAuthenticated: Bool, now: UInt64) {
        self.user = user
        self.id = id
        self.handle = handle
        self.address = address
        self.decoder = RESPRequestDecoder(limits: limits)
        self.isAuthenticated = isAuthenticated
        self.createdAt = now
        self.lastInteraction = now
    }

    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self) }

    var pendingSlotCount: Int { slots.count }

    /// A reply that is ready now; it goes out after every earlier reply.
    func enqueueReady(_ bytes: [UInt8]) {
        if slots.isEmpty {
            outbox.append(contentsOf: bytes)
            firstSlot += 1
        } else {
            slots.append(bytes)
            heldBytes += bytes.count
        }
    }

    /// Reserves the next reply position for a storage job.
    func reserveSlot() -> UInt64 {
        let number = firstSlot + UInt64(slots.count)
        slots.append(nil)
        return number
    }

    /// Fills a reserved slot and moves every ready reply at the front into the outbox.
    func fill(_ slot: UInt64, _ bytes: [UInt8]) {
        guard slot >= firstSlot, slot - firstSlot < UInt64(slots.count) else { return }
        slots[Int(slot - firstSlot)] = bytes
        heldBytes += bytes.count
        while let head = slots.first, let ready = head {
            outbox.append(contentsOf: ready)
            heldBytes -= ready.count
            slots.removeFirst()
            firstSlot += 1
        }
    }

}
