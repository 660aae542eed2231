import SpoolTLS
import Testing

@testable import SpoolServer

@Suite struct TLSSettingsTests {
    private static func settings(cert: String = "/nonexistent.crt", key: String = "/nonexistent.key", ca: String = "", auth: String = "no", protocols: String = "") -> TLSSettings {
        TLSSettings(certificateFile: cert, keyFile: key, caCertificateFile: ca, authClients: auth, protocols: protocols, ciphers: "", ciphersuites: "")
    }

    @Test func tlsProtocolsAcceptsRedisNamesInAnyCase() throws {
        #expect(try TLSContext.protocolRange("") == Self.tls12...Self.tls13)
        #expect(try TLSContext.protocolRange("TLSv1.2 TLSv1.3") == Self.tls12...Self.tls13)
        #expect(try TLSContext.protocolRange("tlsv1.3") == Self.tls13...Self.tls13)
        #expect(throws: TLSError.self) { try TLSContext.protocolRange("TLSv1.1") }
    }

    @Test func aContextIsNotBuiltFromFilesThatCannotBeUsed() {
        #expect(throws: TLSError.self) { try TLSContext(Self.settings(cert: "", key: "")) }
        #expect(throws: TLSError.self) { try TLSContext(Self.settings()) }
        #expect(throws: TLSError.self) { try TLSContext(Self.settings(auth: "sometimes")) }
    }

    @Test func theConfigKeysMapOntoTheSettings() {
        var config = ServerConfig()
        #expect(config.apply("tls-auth-clients", "OPTIONAL") == nil)
        #expect(config.apply("tls-protocols", "TLSv1.3") == nil)
        #expect(config.apply("tls-auth-clients", "maybe") != nil)
        #expect(config.tlsSettings.authClients == "optional")
        #expect(config.tlsSettings.protocols == "TLSv1.3")
        #expect(ServerConfig.key(named: "tls-port")?.isMutable == false)
        #expect(ServerConfig.key(named: "tls-cert-file")?.isMutable == true)
    }

    /// OpenSSL's TLS1_2_VERSION and TLS1_3_VERSION.
    private static let tls12: Int32 = 0x0303
    private static let tls13: Int32 = 0x0304
}
