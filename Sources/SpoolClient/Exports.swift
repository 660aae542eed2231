// The client's API speaks in entry ids, entries and RESP values; re-exporting their modules lets
// users write `import SpoolClient` alone (as swift-nio's NIO re-exports NIOCore).
@_exported import SpoolCore
@_exported import SpoolProtocol
