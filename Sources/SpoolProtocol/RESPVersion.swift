/// The protocol generation a connection speaks. Connections start at RESP2 and switch with
/// `HELLO 3`; the writer needs to know because RESP3-only types are encoded down for RESP2.
public enum RESPVersion: Int, Sendable {
    case resp2 = 2
    case resp3 = 3
}
