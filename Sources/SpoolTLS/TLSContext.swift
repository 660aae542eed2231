import COpenSSL

/// What a TLS context is built from: Redis's tls-* settings.
public struct TLSSettings: Equatable, Sendable {
    public var certificateFile: String
    public var keyFile: String
    public var caCertificateFile: String
    /// Redis's tls-auth-clients: `yes` (a client certificate the CA signed is required),
    /// `optional` (checked when one is sent), `no`.
    public var authClients: String
    /// Redis's tls-protocols: "TLSv1.2 TLSv1.3" by default.
    public var protocols: String
    /// TLS 1.2 cipher list and TLS 1.3 cipher suites (OpenSSL's syntax); "" keeps OpenSSL's defaults.
    public var ciphers: String
    public var ciphersuites: String

    public init(
        certificateFile: String, keyFile: String, caCertificateFile: String, authClients: String, protocols: String,
        ciphers: String, ciphersuites: String
    ) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caCertificateFile = caCertificateFile
        self.authClients = authClients
        self.protocols = protocols
        self.ciphers = ciphers
        self.ciphersuites = ciphersuites
    }
}

/// Which end of the handshake a context is for.
public enum TLSRole: Sendable {
    /// Accepts connections: presents its certificate, checks clients' as tls-auth-clients says.
    case server
    /// Opens connections (a cluster node to its peers): presents its certificate as a client
    /// certificate and checks the server's against tls-ca-cert-file.
    case client
}

/// An OpenSSL server context (SSL_CTX): the certificate, key, trusted CAs and protocol settings
/// every TLS connection accepted after it was built uses. Rebuilt, never changed, when the
/// settings change (CONFIG SET tls-cert-file …): connections keep the context they began with.
// Sendable because an SSL_CTX is reference-counted and safe to use from several threads once
// built (OpenSSL's rule), and this wrapper never changes it after init.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    public let settings: TLSSettings
    public let role: TLSRole

    /// Builds the context, or says what is wrong with the settings (OpenSSL's reason included).
    public init(_ settings: TLSSettings, role: TLSRole = .server) throws(TLSError) {
        guard let context = SSL_CTX_new(role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.openSSL("SSL_CTX_new")
        }
        self.context = context
        self.settings = settings
        self.role = role
        // Memory BIOs, and no compression (CRIME), no renegotiation.
        _ = SSL_CTX_set_options(context, spool_ssl_op_no_compression_or_renegotiation())
        _ = spool_ssl_ctx_set_release_buffers(context)
        let range = try Self.protocolRange(settings.protocols)
        guard spool_ssl_ctx_set_min_proto_version(context, range.lowerBound) == 1,
            spool_ssl_ctx_set_max_proto_version(context, range.upperBound) == 1
        else { throw TLSError.openSSL("setting tls-protocols") }
        // A server always presents a certificate; a client only when it was given one.
        if role == .server || !settings.certificateFile.isEmpty || !settings.keyFile.isEmpty {
            guard !settings.certificateFile.isEmpty, !settings.keyFile.isEmpty else {
                throw TLSError.settings("TLS needs tls-cert-file and tls-key-file")
            }
            guard SSL_CTX_use_certificate_chain_file(context, settings.certificateFile) == 1 else {
                throw TLSError.openSSL("loading tls-cert-file \(settings.certificateFile)")
            }
            guard SSL_CTX_use_PrivateKey_file(context, settings.keyFile, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.openSSL("loading tls-key-file \(settings.keyFile)")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError.openSSL("tls-key-file does not match tls-cert-file")
            }
        }
        if !settings.ciphers.isEmpty, SSL_CTX_set_cipher_list(context, settings.ciphers) != 1 {
            throw TLSError.openSSL("setting tls-ciphers")
        }
        if !settings.ciphersuites.isEmpty, SSL_CTX_set_ciphersuites(context, settings.ciphersuites) != 1 {
            throw TLSError.openSSL("setting tls-ciphersuites")
        }
        let mode: Int32
        switch (role, settings.authClients.lowercased()) {
        case (.client, _): mode = SSL_VERIFY_PEER
        case (.server, "yes"): mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        case (.server, "optional"): mode = SSL_VERIFY_PEER
        case (.server, "no"): mode = SSL_VERIFY_NONE
        default: throw TLSError.settings("tls-auth-clients must be yes, no or optional")
        }
        if mode != SSL_VERIFY_NONE {
            guard !settings.caCertificateFile.isEmpty else {
                throw TLSError.settings("tls-auth-clients \(settings.authClients) needs tls-ca-cert-file")
            }
            guard SSL_CTX_load_verify_locations(context, settings.caCertificateFile, nil) == 1 else {
                throw TLSError.openSSL("loading tls-ca-cert-file \(settings.caCertificateFile)")
            }
        }
        SSL_CTX_set_verify(context, mode, nil)
        // Needed for session resumption when client certificates are verified.
        let name = Array("spool".utf8)
        _ = SSL_CTX_set_session_id_context(context, name, UInt32(name.count))
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// tls-protocols: TLSv1.2 and/or TLSv1.3 (any case), space-separated; "" is both.
    public static func protocolRange(_ text: String) throws(TLSError) -> ClosedRange<Int32> {
        var versions: [Int32] = []
        for word in text.split(separator: " ") {
            switch word.lowercased() {
            case "tlsv1.2": versions.append(TLS1_2_VERSION)
            case "tlsv1.3": versions.append(TLS1_3_VERSION)
            default: throw TLSError.settings("Invalid tls-protocols specified: \(word) (TLSv1.2 and TLSv1.3 are supported)")
            }
        }
        if versions.isEmpty { return TLS1_2_VERSION...TLS1_3_VERSION }
        return versions.min()!...versions.max()!
    }
}

/// Why TLS settings could not be used, or a connection's TLS failed.
public enum TLSError: Error, CustomStringConvertible {
    case settings(String)
    /// An OpenSSL call failed; its queued error texts are appended.
    case openSSL(String, reason: String)

    static func openSSL(_ what: String) -> TLSError { .openSSL(what, reason: TLSError.drainErrors()) }

    public var description: String {
        switch self {
        case .settings(let text): return text
        case .openSSL(let what, let reason): return reason.isEmpty ? what : "\(what): \(reason)"
        }
    }

    /// OpenSSL's error queue as text (and empties it, so the next call starts clean).
    static func drainErrors() -> String {
        var texts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            texts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return texts.joined(separator: "; ")
    }
}
