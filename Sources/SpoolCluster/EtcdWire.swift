#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The JSON shapes of etcd 3.4's grpc-gateway (v1.9.5), REPLICATION.md section 6. Field names are
// the proto names (snake_case, upper-case `ID`/`TTL`); bytes are base64; int64 are strings in
// answers (numbers accepted too, and sent as strings, which requests accept); zero values are
// omitted from answers, so every answer field is optional here and defaults to the proto's zero.

/// An int64 as the gateway writes it (a JSON string) or as a number, which it also accepts.
struct WireInt64: Codable, Sendable, Equatable {
    var value: Int64

    init(_ value: Int64) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let value = Int64(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "int64 string is not a number: \(text)")
            }
            self.value = value
        } else {
            self.value = try container.decode(Int64.self)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(value))
    }
}

enum WireBase64 {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    static func encode(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }

    static func decode(_ text: String, call: String, field: String) throws(EtcdError) -> [UInt8] {
        guard let data = Data(base64Encoded: text) else {
            throw .malformedResponse(call: call, detail: "\(field) is not base64: \(text.prefix(64))")
        }
        return [UInt8](data)
    }

    /// The `range_end` that makes a range cover every key starting with `prefix`: the prefix
    /// with its last byte below 0xff incremented and what follows dropped (etcd's
    /// `GetPrefixRangeEnd`). An all-0xff or empty prefix has no such key: "\0" means "to the end".
    static func rangeEnd(forPrefix prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }
}

// MARK: Requests

struct WireLeaseGrantRequest: Encodable {
    var TTL: WireInt64
}

struct WireLeaseIDRequest: Encodable {
    var ID: WireInt64
}

struct WireRangeRequest: Encodable {
    var key: String
    var range_end: String?
}

struct WirePutRequest: Encodable {
    var key: String
    var value: String
    var lease: WireInt64?
}

struct WireDeleteRangeRequest: Encodable {
    var key: String
    var range_end: String?
}

struct WireCompactionRequest: Encodable {
    var revision: WireInt64
}

struct WireCompare: Encodable {
    var key: String
    var target: String
    var result: String
    var version: WireInt64?
    var create_revision: WireInt64?
    var mod_revision: WireInt64?
    var value: String?
    var lease: WireInt64?

    init(_ compare: EtcdCompare) {
        key = WireBase64.encode(compare.key)
        result = compare.result.rawValue
        switch compare.target {
        case .version(let version):
            target = "VERSION"
            self.version = WireInt64(version)
        case .createRevision(let revision):
            target = "CREATE"
            create_revision = WireInt64(revision)
        case .modRevision(let revision):
            target = "MOD"
            mod_revision = WireInt64(revision)
        case .value(let bytes):
            target = "VALUE"
            value = WireBase64.encode(bytes)
        case .lease(let lease):
            target = "LEASE"
            self.lease = WireInt64(lease)
        }
    }
}

struct WireRequestOp: Encodable {
    var request_range: WireRangeRequest?
    var request_put: WirePutRequest?
    var request_delete_range: WireDeleteRangeRequest?

    init(_ request: EtcdRequest) {
        switch request {
        case .put(let key, let value, let lease):
            request_put = WirePutRequest(
                key: WireBase64.encode(key), value: WireBase64.encode(value), lease: lease == 0 ? nil : WireInt64(lease))
        case .range(let key):
            request_range = WireRangeRequest(key: WireBase64.encode(key))
        case .rangePrefix(let prefix):
            request_range = WireRangeRequest(
                key: WireBase64.encode(prefix), range_end: WireBase64.encode(WireBase64.rangeEnd(forPrefix: Array(prefix.utf8))))
        case .deleteRange(let key):
            request_delete_range = WireDeleteRangeRequest(key: WireBase64.encode(key))
        }
    }
}

struct WireTxnRequest: Encodable {
    var compare: [WireCompare]
    var success: [WireRequestOp]
    var failure: [WireRequestOp]
}

struct WireWatchRequest: Encodable {
    struct Create: Encodable {
        var key: String
        var range_end: String
        var start_revision: WireInt64
    }

    var create_request: Create
}

// MARK: Answers

struct WireHeader: Decodable {
    var revision: WireInt64?
}

struct WireKeyValue: Decodable {
    var key: String?
    var value: String?
    var create_revision: WireInt64?
    var mod_revision: WireInt64?
    var version: WireInt64?
    var lease: WireInt64?

    func decoded(call: String) throws(EtcdError) -> EtcdKeyValue {
        guard let key else { throw .malformedResponse(call: call, detail: "a key-value without a key") }
        return EtcdKeyValue(
            key: String(decoding: try WireBase64.decode(key, call: call, field: "key"), as: UTF8.self),
            value: try value.map { text throws(EtcdError) in try WireBase64.decode(text, call: call, field: "value") } ?? [],
            createRevision: create_revision?.value ?? 0,
            modRevision: mod_revision?.value ?? 0,
            version: version?.value ?? 0,
            lease: lease?.value ?? 0)
    }
}

struct WireRangeResponse: Decodable {
    var header: WireHeader?
    var kvs: [WireKeyValue]?

    func decoded(call: String) throws(EtcdError) -> EtcdRangeResult {
        var keyValues: [EtcdKeyValue] = []
        for keyValue in kvs ?? [] { keyValues.append(try keyValue.decoded(call: call)) }
        return EtcdRangeResult(revision: try requireRevision(header, call: call), keyValues: keyValues)
    }
}

struct WirePutResponse: Decodable {
    var header: WireHeader?
}

struct WireDeleteRangeResponse: Decodable {
    var header: WireHeader?
    var deleted: WireInt64?
}

struct WireLeaseGrantResponse: Decodable {
    var header: WireHeader?
    var ID: WireInt64?
    var TTL: WireInt64?
    /// LeaseGrantResponse carries its own error string besides the HTTP status.
    var error: String?
}

struct WireLeaseKeepAliveResponse: Decodable {
    var header: WireHeader?
    var ID: WireInt64?
    var TTL: WireInt64?
}

struct WireResponseOp: Decodable {
    var response_range: WireRangeResponse?
    var response_put: WirePutResponse?
    var response_delete_range: WireDeleteRangeResponse?
}

struct WireTxnResponse: Decodable {
    var header: WireHeader?
    var succeeded: Bool?
    var responses: [WireResponseOp]?
}

struct WireEvent: Decodable {
    var type: String?
    var kv: WireKeyValue?
}

struct WireWatchResponse: Decodable {
    var header: WireHeader?
    var created: Bool?
    var canceled: Bool?
    var compact_revision: WireInt64?
    var cancel_reason: String?
    var events: [WireEvent]?
}

/// One object of a streaming answer: `{"result":{…}}` or `{"error":{…}}`.
struct WireStreamEnvelope<Result: Decodable>: Decodable {
    var result: Result?
    var error: WireStreamError?
}

/// A streaming call's error: grpc-gateway v1 writes an object (`grpc_code`, `http_code`,
/// `message`, `http_status`), unlike the unary calls' flat `{"error","message","code"}`.
struct WireStreamError: Decodable {
    var grpc_code: Int?
    var http_code: Int?
    var message: String?
}

/// A unary call's error body.
struct WireUnaryError: Decodable {
    var error: String?
    var message: String?
    var code: Int?
}

func requireRevision(_ header: WireHeader?, call: String) throws(EtcdError) -> Int64 {
    guard let revision = header?.revision?.value else {
        throw .malformedResponse(call: call, detail: "no header.revision")
    }
    return revision
}
