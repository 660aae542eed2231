import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The admin HTTP port (`admin-port`): GET /metrics in Prometheus's text format. An HTTP/1.1
/// server from swift-nio on a thread of its own, so a scrape never waits on the client loop and
/// the loop never waits on a scrape; what a scrape needs from the storage thread it asks for as a
/// storage job, like any command.
final class AdminServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    let port: Int

    typealias Respond = @Sendable (_ method: HTTPMethod, _ path: String, _ eventLoop: any EventLoop) -> EventLoopFuture<AdminResponse>

    init(host: String, port: Int, respond: @escaping Respond) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(respond: respond))
                    }
                }
                .bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.port = channel.localAddress?.port ?? port
    }

    func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

struct AdminResponse: Sendable {
    var status: HTTPResponseStatus
    var contentType: String
    var body: [UInt8]

    static func text(_ text: String, status: HTTPResponseStatus = .ok) -> AdminResponse {
        AdminResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }
}

/// One HTTP connection: a request's head, then its end; the answer comes from `respond`.
private final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: AdminServer.Respond
    private var head: HTTPRequestHead?

    init(respond: @escaping AdminServer.Respond) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead): head = requestHead
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let keepAlive = head.isKeepAlive
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "/")
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            respond(head.method, path, context.eventLoop).whenComplete { result in
                let response: AdminResponse
                switch result {
                case .success(let value): response = value
                case .failure(let error): response = .text("error: \(error)\n", status: .internalServerError)
                }
                Self.write(response, keepAlive: keepAlive, version: head.version, context: boundContext.value)
            }
        }
    }

    private static func write(_ response: AdminResponse, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
