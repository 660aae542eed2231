import Testing
import SpoolProtocol
@testable import SpoolServer

/// CLUSTER's arguments decoded with the errors redis-server 7.0.15 answered, in its order.
@Suite struct ClusterSubcommandTests {
    private func decode(_ words: String...) -> Result<ClusterSubcommand, CommandErrorText> {
        ClusterSubcommand.decode(RequestArguments(words.map { Array($0.utf8) }))
    }

    private func error(_ result: Result<ClusterSubcommand, CommandErrorText>) -> String? {
        if case .failure(let error) = result { return error.text }
        return nil
    }

    @Test func subcommandsDecodeCaseInsensitively() throws {
        #expect(try decode("CLUSTER", "help").get() == .help)
        #expect(try decode("cluster", "INFO").get() == .info)
        #expect(try decode("CLUSTER", "MyId").get() == .myID)
        #expect(try decode("CLUSTER", "NODES").get() == .nodes)
        #expect(try decode("CLUSTER", "slots").get() == .slots)
        #expect(try decode("CLUSTER", "SHARDS").get() == .shards)
        #expect(try decode("CLUSTER", "KEYSLOT", "{user1000}.following").get() == .keySlot(key: Array("{user1000}.following".utf8)))
        #expect(try decode("CLUSTER", "COUNTKEYSINSLOT", "16383").get() == .countKeysInSlot(slot: 16383))
        #expect(try decode("CLUSTER", "GETKEYSINSLOT", "0", "10").get() == .getKeysInSlot(slot: 0, countMax: 10))
        #expect(try decode("CLUSTER", "GETKEYSINSLOT", "7", "0").get() == .getKeysInSlot(slot: 7, countMax: 0))
    }

    @Test func arityAndUnknownSubcommandErrorsAreRedisText() {
        #expect(error(decode("CLUSTER")) == "ERR wrong number of arguments for 'cluster' command")
        #expect(error(decode("CLUSTER", "FOO")) == "ERR unknown subcommand 'FOO'. Try CLUSTER HELP.")
        #expect(error(decode("cluster", "addslots", "1")) == "ERR unknown subcommand 'addslots'. Try CLUSTER HELP.")
        #expect(error(decode("CLUSTER", "KEYSLOT")) == "ERR wrong number of arguments for 'cluster|keyslot' command")
        #expect(error(decode("CLUSTER", "HELP", "x")) == "ERR wrong number of arguments for 'cluster|help' command")
        #expect(error(decode("CLUSTER", "getkeysinslot", "1")) == "ERR wrong number of arguments for 'cluster|getkeysinslot' command")
        #expect(error(decode("CLUSTER", "INFO", "x")) == "ERR wrong number of arguments for 'cluster|info' command")
    }

    @Test func slotArgumentsAreCheckedAsRedisChecksThem() {
        #expect(error(decode("CLUSTER", "COUNTKEYSINSLOT", "99999")) == "ERR Invalid slot")
        #expect(error(decode("CLUSTER", "COUNTKEYSINSLOT", "16384")) == "ERR Invalid slot")
        #expect(error(decode("CLUSTER", "COUNTKEYSINSLOT", "-1")) == "ERR Invalid slot")
        #expect(error(decode("CLUSTER", "COUNTKEYSINSLOT", "x")) == "ERR value is not an integer or out of range")
        #expect(error(decode("CLUSTER", "COUNTKEYSINSLOT", "01")) == "ERR value is not an integer or out of range")
        #expect(error(decode("CLUSTER", "GETKEYSINSLOT", "1", "-1")) == "ERR Invalid slot or number of keys")
        #expect(error(decode("CLUSTER", "GETKEYSINSLOT", "16384", "1")) == "ERR Invalid slot or number of keys")
        #expect(error(decode("CLUSTER", "GETKEYSINSLOT", "x", "-1")) == "ERR value is not an integer or out of range")
        #expect(error(decode("CLUSTER", "GETKEYSINSLOT", "1", "ten")) == "ERR value is not an integer or out of range")
    }
}
