import NIOCore
import NIOPosix
import SpoolTLS
import Synchronization

/// The cluster bus between nodes: length-prefixed frames (a 4-byte big-endian length, then the
/// frame) over TCP, on a NIO event loop thread of its own so replication traffic never waits on
/// the client loop. Each node sends on connections it opens and receives on connections it
/// accepts. A connection's first frame is a hello the receiver checks (`acceptHello`: the cluster
/// name); anything else, or a frame over the limit, closes it. Frames sent while a peer is not
/// connected, or whose connection has more than `pendingBytesMax` not yet written (a peer that is
/// paused or slow), are dropped: the replication protocol resends what was not acknowledged. The
/// hello is sent again every `pingInterval` on every connection, so each node knows which peers
/// it can hear whatever it leads.
public final class PeerTransport: Sendable {
    public typealias FramesHandler = @Sendable ([[UInt8]]) -> Void

    private struct Peer {
        var host: String
        var port: Int
        var channel: (any Channel)?
        var connecting = false
    }

    private struct State {
        var peers: [Int: Peer] = [:]
        var listener: (any Channel)?
        var stopped = false
    }

    private let group: MultiThreadedEventLoopGroup
    private let hello: [UInt8]
    private let acceptHello: @Sendable ([UInt8]) -> Bool
    private let onFrames: FramesHandler
    private let frameBytesMax: Int
    /// `tls-cluster yes`: the contexts connections accept and open with (nil: plain TCP).
    private let tls: BusTLS?
    private let state = Mutex(State())  // Guarded by itself.

    /// The node's certificate as a server (connections it accepts) and as a client (connections
    /// it opens).
    public struct BusTLS: Sendable {
        public let server: TLSContext
        public let client: TLSContext

        public init(server: TLSContext, client: TLSContext) {
            self.server = server
            self.client = client
        }
    }

    /// Bytes a connection may hold unwritten before frames to that peer are dropped.
    public static let pendingBytesMax = 8 << 20

    /// `hello` is sent first on every connection this node opens, and again every `pingInterval`.
    public init(
        hello: [UInt8], frameBytesMax: Int, pingInterval: TimeAmount = .milliseconds(100), tls: BusTLS? = nil,
        acceptHello: @escaping @Sendable ([UInt8]) -> Bool, onFrames: @escaping FramesHandler
    ) {
        self.tls = tls
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.hello = hello
        self.frameBytesMax = frameBytesMax
        self.acceptHello = acceptHello
        self.onFrames = onFrames
        group.next().scheduleRepeatedTask(initialDelay: pingInterval, delay: pingInterval) { [self] _ in
            let channels = state.withLock { $0.stopped ? [] : $0.peers.values.compactMap(\.channel) }
            for channel in channels where channel.isWritable {
                channel.writeAndFlush(channel.allocator.buffer(bytes: hello), promise: nil)
            }
        }
    }

    /// Listens for peers; returns the bound port (for port 0).
    public func listen(host: String, port: Int) throws -> Int {
        let acceptHello = self.acceptHello
        let onFrames = self.onFrames
        let limit = frameBytesMax
        let serverTLS = tls?.server
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let serverTLS { try channel.pipeline.syncOperations.addHandler(BusTLSHandler(context: serverTLS)) }
                    try channel.pipeline.syncOperations.addHandler(
                        InboundFrames(frameBytesMax: limit, acceptHello: acceptHello, onFrames: onFrames))
                }
            }
            .bind(host: host, port: port).wait()
        state.withLock { $0.listener = channel }
        return channel.localAddress?.port ?? port
    }

    /// Where peer `index` listens; a changed address reconnects.
    public func setPeer(_ index: Int, host: String, port: Int) {
        let stale: (any Channel)? = state.withLock { state in
            if let known = state.peers[index], known.host == host, known.port == port { return nil }
            let old = state.peers[index]?.channel
            state.peers[index] = Peer(host: host, port: port)
            return old
        }
        stale?.close(promise: nil)
        connect(index)
    }

    /// Forgets peer `index` (a removed member): its connection closes and is not made again.
    public func removePeer(_ index: Int) {
        let channel: (any Channel)? = state.withLock { state in state.peers.removeValue(forKey: index)?.channel }
        channel?.close(promise: nil)
    }

    /// Sends `bytes` (whole frames) to peer `index`, or drops them if it is not connected.
    public func send(to index: Int, _ bytes: [UInt8]) {
        let channel = state.withLock { $0.peers[index]?.channel }
        guard let channel else {
            connect(index)
            return
        }
        guard channel.isWritable else { return }  // the peer is not reading: drop, it will be resent
        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
    }

    public func shutdown() {
        let channels: [any Channel] = state.withLock { state in
            state.stopped = true
            var all = state.peers.values.compactMap(\.channel)
            if let listener = state.listener { all.append(listener) }
            return all
        }
        for channel in channels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
    }

    private func connect(_ index: Int) {
        let target: (String, Int)? = state.withLock { state in
            guard !state.stopped, var peer = state.peers[index], peer.channel == nil, !peer.connecting else { return nil }
            peer.connecting = true
            state.peers[index] = peer
            return (peer.host, peer.port)
        }
        guard let (host, port) = target else { return }
        let hello = self.hello
        let clientTLS = tls?.client
        ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let clientTLS { try channel.pipeline.syncOperations.addHandler(BusTLSHandler(context: clientTLS)) }
                }
            }
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: Self.pendingBytesMax / 2, high: Self.pendingBytesMax))
            .connectTimeout(.milliseconds(500))
            .connect(host: host, port: port)
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    channel.writeAndFlush(channel.allocator.buffer(bytes: hello), promise: nil)
                    let kept = state.withLock { state -> Bool in
                        guard !state.stopped, state.peers[index]?.host == host, state.peers[index]?.port == port else { return false }
                        state.peers[index]?.channel = channel
                        state.peers[index]?.connecting = false
                        return true
                    }
                    guard kept else {
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { [self] _ in
                        state.withLock { state in
                            if state.peers[index]?.channel === channel { state.peers[index]?.channel = nil }
                        }
                        retry(index)
                    }
                case .failure:
                    state.withLock { $0.peers[index]?.connecting = false }
                    retry(index)
                }
            }
    }

    /// Connects again after a pause (the peer may be restarting).
    private func retry(_ index: Int) {
        guard !state.withLock({ $0.stopped }) else { return }
        group.next().scheduleTask(in: .milliseconds(100)) { [self] in connect(index) }
    }
}

/// Splits an accepted connection's bytes into frames; the first must be an accepted hello.
private final class InboundFrames: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let frameBytesMax: Int
    private let acceptHello: @Sendable ([UInt8]) -> Bool
    private let onFrames: PeerTransport.FramesHandler
    private var buffer: ByteBuffer?
    private var greeted = false
    private var frames: [[UInt8]] = []

    init(frameBytesMax: Int, acceptHello: @escaping @Sendable ([UInt8]) -> Bool, onFrames: @escaping PeerTransport.FramesHandler) {
        self.frameBytesMax = frameBytesMax
        self.acceptHello = acceptHello
        self.onFrames = onFrames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        while let length = buffer!.getInteger(at: buffer!.readerIndex, as: UInt32.self) {
            guard Int(length) <= frameBytesMax else {
                context.close(promise: nil)
                return
            }
            guard buffer!.readableBytes >= 4 + Int(length), let frame = buffer!.readBytes(length: 4 + Int(length)) else { break }
            if !greeted {
                guard acceptHello(frame) else {
                    context.close(promise: nil)
                    return
                }
                greeted = true
                continue
            }
            frames.append(frame)
        }
        buffer!.discardReadBytes()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !frames.isEmpty else { return }
        let ready = frames
        frames = []
        onFrames(ready)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
