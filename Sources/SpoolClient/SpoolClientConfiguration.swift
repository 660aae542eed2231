import SpoolProtocol

/// Where and how to connect.
public struct SpoolClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// ACL user for AUTH / HELLO AUTH; nil means "default".
    public var username: String?
    public var password: String?
    /// RESP3 is negotiated with HELLO 3 on every connection; replies are decoded either way.
    public var protocolVersion: RESPVersion
    /// Sent with CLIENT SETNAME (or HELLO SETNAME); shows in CLIENT LIST.
    public var clientName: String?
    /// Limit on one TCP connect.
    public var connectTimeout: Duration
    public var reconnect: ReconnectPolicy
    /// Connect over TLS (to the server's tls-port), nil for plain TCP.
    public var tls: TLSOptions?

    /// The files a TLS connection uses, as redis-cli's --cacert, --cert and --key: the CA the
    /// server's certificate must chain to, and the client's own certificate and key when the
    /// server asks for one (tls-auth-clients yes, its default).
    public struct TLSOptions: Sendable, Equatable {
        public var caCertificateFile: String
        public var certificateFile: String?
        public var keyFile: String?

        public init(caCertificateFile: String, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caCertificateFile = caCertificateFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    public init(
        host: String = "127.0.0.1", port: Int = 7379, username: String? = nil, password: String? = nil,
        protocolVersion: RESPVersion = .resp2, clientName: String? = nil, connectTimeout: Duration = .seconds(5),
        reconnect: ReconnectPolicy = ReconnectPolicy(), tls: TLSOptions? = nil
    ) {
        self.tls = tls
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.protocolVersion = protocolVersion
        self.clientName = clientName
        self.connectTimeout = connectTimeout
        self.reconnect = reconnect
    }

    var endpoint: String { "\(host):\(port)" }
}

/// How (re)connecting retries: exponential backoff from `initialDelay`, multiplied by
/// `multiplier` after each failed attempt up to `maximumDelay`, with up to ±`jitter` of each
/// delay added at random so that many clients do not retry in step. After `attemptsMax` failed
/// attempts in a row the call fails with `.connectFailed`.
public struct ReconnectPolicy: Sendable {
    public var initialDelay: Duration
    public var maximumDelay: Duration
    public var multiplier: Double
    /// Fraction of each delay, 0…1.
    public var jitter: Double
    public var attemptsMax: Int

    public init(
        initialDelay: Duration = .milliseconds(50), maximumDelay: Duration = .seconds(2), multiplier: Double = 2,
        jitter: Double = 0.2, attemptsMax: Int = 10
    ) {
        precondition(attemptsMax >= 1, "at least one attempt")
        precondition(multiplier >= 1 && jitter >= 0 && jitter <= 1)
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
        self.attemptsMax = attemptsMax
    }

    /// One attempt, no retry.
    public static let never = ReconnectPolicy(attemptsMax: 1)

    /// The delay before attempt `attempt + 1`, after `attempt` failures (1-based).
    func delay(afterFailures attempt: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(attempt, 1) {
            delay = delay * multiplier
            if delay >= maximumDelay {
                delay = maximumDelay
                break
            }
        }
        let spread = delay * jitter
        return delay + spread * Double.random(in: -1...1)
    }
}
