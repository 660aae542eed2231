import NIOCore
import SpoolTLS

/// TLS on a cluster bus connection (`tls-cluster yes`): what arrives is decrypted before the
/// frame decoder sees it, and frames written are encrypted, by OpenSSL over memory BIOs on the
/// connection's event loop. Both ends present the node's certificate and check the other's
/// against tls-ca-cert-file, so only nodes holding a certificate the cluster's CA signed are
/// heard. A failed handshake or a bad record closes the connection (the replication protocol
/// resends what was lost, as for any dropped connection).
final class BusTLSHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: TLSSession

    init(context: TLSContext) throws {
        session = try TLSSession(context: context)
    }

    func channelActive(context: ChannelHandlerContext) {
        if session.context.role == .client, case .failed = session.startHandshake() {
            context.close(promise: nil)
            return
        }
        writeOutgoing(context, flush: true)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = unwrapInboundIn(data)
        var plaintext: [UInt8] = []
        let result = ciphertext.withUnsafeReadableBytes { bytes in
            session.receive(bytes) { plaintext.append(contentsOf: $0) }
        }
        writeOutgoing(context, flush: true)
        if !plaintext.isEmpty {
            context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: plaintext)))
        }
        switch result {
        case .ok: break
        case .closed, .failed: context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        guard session.send(Array(plaintext.readableBytesView)) else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            context.close(promise: nil)
            return
        }
        // Before the handshake ends the frame is held by the session and goes out with it.
        let ciphertext = session.takeOutgoing()
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: ciphertext)), promise: promise)
    }

    private func writeOutgoing(_ context: ChannelHandlerContext, flush: Bool) {
        guard session.hasOutgoing else { return }
        let bytes = session.takeOutgoing()
        if flush {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
        } else {
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
        }
    }
}
