import SpoolTLS

/// The TLS port: records in, plaintext to the decoder; a failed handshake ends the connection
/// after OpenSSL's alert, and nothing the client sent before it is run.
extension Server {
    /// Decrypts what arrived; false when the connection is ending (a failed handshake or record,
    /// or the client's close_notify) and nothing should be run.
    func receiveTLS(_ ciphertext: UnsafeRawBufferPointer, _ tls: TLSSession, _ connection: Connection) -> Bool {
        let result = tls.receive(ciphertext) { connection.decoder.append($0) }
        if tls.hasOutgoing { scheduleFlush(connection) }
        switch result {
        case .ok:
            return true
        case .closed:
            connection.closeAfterWrite = true
            scheduleFlush(connection)
            return true
        case .failed:
            statistics.tlsRefusals += 1
            connection.closeAfterWrite = true
            scheduleFlush(connection)
            return false
        }
    }

    /// CONFIG SET of a tls-* key: builds the new context first; if it cannot be built, nothing
    /// changes and the error says why. Connections already made keep theirs.
    func reloadTLS(_ updated: ServerConfig) -> String? {
        guard tlsContext != nil, updated.tlsSettings != config.tlsSettings else { return nil }
        do {
            tlsContext = try TLSContext(updated.tlsSettings)
            return nil
        } catch {
            return "ERR CONFIG SET failed - Unable to update TLS configuration: \(error)"
        }
    }
}
