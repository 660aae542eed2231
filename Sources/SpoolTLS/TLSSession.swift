import COpenSSL

/// One connection's TLS. OpenSSL reads the ciphertext the loop hands it and writes the
/// ciphertext the loop sends (two memory BIOs), so the loop keeps doing every socket read and
/// write itself, as for a plain connection. One thread only (an SSL object is not thread-safe):
/// the client loop's, or a bus connection's event loop.
public final class TLSSession {
    private let ssl: OpaquePointer
    /// Ciphertext from the socket, for OpenSSL to read.
    private let incoming: OpaquePointer
    /// Ciphertext OpenSSL wrote, for the socket.
    private let outgoing: OpaquePointer
    /// Kept alive while the connection uses it (a reload replaces the server's, not this one).
    public let context: TLSContext
    /// Replies written before the handshake finished (a refusal sent on accept), sent after it.
    private var heldPlaintext: [UInt8] = []
    public private(set) var isEstablished = false
    /// Plaintext SSL_read writes into (one TLS record's worth), kept for the session's life rather
    /// than allocated on every read.
    private var plaintext = [UInt8](repeating: 0, count: 16 * 1024)

    public enum Received {
        case ok
        /// The client sent close_notify.
        case closed
        /// The handshake failed (a missing or untrusted certificate, a protocol the settings
        /// refuse) or a record was bad; OpenSSL's alert, if any, is in the outgoing bytes.
        case failed(String)
    }

    public init(context: TLSContext) throws(TLSError) {
        guard let ssl = SSL_new(context.context) else { throw TLSError.openSSL("SSL_new") }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.openSSL("BIO_new")
        }
        // The SSL object owns both BIOs from here on (SSL_free frees them).
        SSL_set_bio(ssl, incoming, outgoing)
        if context.role == .server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        self.context = context
    }

    deinit {
        SSL_free(ssl)
    }

    /// A client's first flight (ClientHello), into the outgoing bytes.
    public func startHandshake() -> Received {
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            isEstablished = true
            return .ok
        }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .ok }
        return .failed(failureText(error))
    }

    /// Takes ciphertext from the socket; hands each piece of plaintext it decrypts to `deliver`.
    public func receive(_ ciphertext: UnsafeRawBufferPointer, deliver: (UnsafeRawBufferPointer) -> Void) -> Received {
        var offset = 0
        while offset < ciphertext.count {
            // A memory BIO takes everything it is given.
            let written = BIO_write(incoming, ciphertext.baseAddress! + offset, Int32(ciphertext.count - offset))
            guard written > 0 else { return .failed("BIO_write: " + TLSError.drainErrors()) }
            offset += Int(written)
        }
        if !isEstablished {
            let result = SSL_do_handshake(ssl)
            if result != 1 {
                let error = SSL_get_error(ssl, result)
                if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .ok }
                return .failed(failureText(error))
            }
            isEstablished = true
            if !heldPlaintext.isEmpty {
                let held = heldPlaintext
                heldPlaintext = []
                if !send(held) { return .failed("SSL_write: " + TLSError.drainErrors()) }
            }
        }
        while true {
            let count = plaintext.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 {
                plaintext.withUnsafeBytes { deliver(UnsafeRawBufferPointer(rebasing: $0[0..<Int(count)])) }
                continue
            }
            let error = SSL_get_error(ssl, count)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .ok
            case SSL_ERROR_ZERO_RETURN: return .closed
            default: return .failed(failureText(error))
            }
        }
    }

    /// Encrypts replies into the outgoing bytes (held until the handshake is done).
    public func send(_ plaintext: [UInt8]) -> Bool {
        guard isEstablished else {
            heldPlaintext += plaintext
            return true
        }
        var offset = 0
        while offset < plaintext.count {
            let written = plaintext.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32($0.count - offset)) }
            guard written > 0 else { return false }
            offset += Int(written)
        }
        return true
    }

    /// The ciphertext waiting for the socket: handshake messages, alerts, encrypted replies.
    public func takeOutgoing() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(outgoing))
        guard pending > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: pending)
        let read = bytes.withUnsafeMutableBytes { BIO_read(outgoing, $0.baseAddress, Int32(pending)) }
        return read > 0 ? Array(bytes.prefix(Int(read))) : []
    }

    public var hasOutgoing: Bool { BIO_ctrl_pending(outgoing) > 0 }

    private func failureText(_ error: Int32) -> String {
        let queued = TLSError.drainErrors()
        let verify = SSL_get_verify_result(ssl)
        if verify != Int(X509_V_OK) {
            return "certificate verification failed: " + String(cString: X509_verify_cert_error_string(verify))
        }
        return queued.isEmpty ? "TLS error \(error)" : queued
    }
}
