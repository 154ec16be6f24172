import HTTPServer

/// The server's request record, named apart from the request log's `Store.RequestRecord`
/// (the module `HTTPServer` and its class of the same name hide a module-qualified name).
typealias HTTPRequestRecord = RequestRecord
