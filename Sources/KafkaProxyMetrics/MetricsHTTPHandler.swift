import NIOCore
import NIOHTTP1

/// Answers `/metrics`, `/clients`, `/lag`, `/healthz` and `/readyz`; everything else is a 404.
///
/// Each response closes its connection: scrapers reconnect cheaply, and no idle keep-alive connection is left for
/// a misbehaving client to hold.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: KafkascopeMetrics
    private let isReady: @Sendable () -> Bool
    private var request: HTTPRequestHead?

    init(metrics: KafkascopeMetrics, isReady: @escaping @Sendable () -> Bool) {
        self.metrics = metrics
        self.isReady = isReady
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.request = head
        case .body:
            break  // none of the endpoints takes a body
        case .end:
            guard let head = self.request else { return }
            self.request = nil
            self.respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard head.method == .GET || head.method == .HEAD else {
            return self.send(.methodNotAllowed, "only GET and HEAD are served\n", head: head, context: context)
        }
        switch path {
        case "/metrics":
            var body = context.channel.allocator.buffer(capacity: 0)
            body.writeBytes(self.metrics.exposition())
            self.send(.ok, body, contentType: "text/plain; version=0.0.4; charset=utf-8", head: head, context: context)
        case "/clients":
            self.send(.ok, ByteBuffer(string: self.metrics.clientDirectory.json()), contentType: "application/json", head: head, context: context)
        case "/lag":
            guard let snapshot = self.metrics.lagSnapshot() else {
                return self.send(.notFound, "consumer lag is not tracked (--lag false or --no-metrics)\n", head: head, context: context)
            }
            self.send(.ok, ByteBuffer(string: snapshot.json()), contentType: "application/json", head: head, context: context)
        case "/healthz":
            self.send(.ok, "ok\n", head: head, context: context)
        case "/readyz":
            if self.isReady() {
                self.send(.ok, "ready\n", head: head, context: context)
            } else {
                self.send(.serviceUnavailable, "not ready: not listening yet, or no bootstrap broker reached\n", head: head, context: context)
            }
        default:
            self.send(.notFound, "not found; try /metrics, /clients, /lag, /healthz or /readyz\n", head: head, context: context)
        }
    }

    private func send(_ status: HTTPResponseStatus, _ text: String, head: HTTPRequestHead, context: ChannelHandlerContext) {
        self.send(status, ByteBuffer(string: text), contentType: "text/plain; charset=utf-8", head: head, context: context)
    }

    private func send(
        _ status: HTTPResponseStatus, _ body: ByteBuffer, contentType: String, head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        let headers: HTTPHeaders = [
            "content-type": contentType, "content-length": "\(body.readableBytes)", "connection": "close",
        ]
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)  // a client that stalls mid-request
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)  // malformed HTTP: nothing useful to answer
    }
}

@available(*, unavailable)
extension MetricsHTTPHandler: Sendable {}
