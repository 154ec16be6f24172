import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// A response as a client saw it.
struct HTTPReply {
    let status: Int
    /// Header fields by lower-cased name (the last value wins).
    let headers: [String: String]
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
    var json: JSON { JSON(data: body) }
}

/// A parsed JSON value with forgiving accessors (nil when the shape differs).
struct JSON: CustomStringConvertible {
    let value: Any?

    init(_ value: Any?) { self.value = value }
    init(data: Data) { value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) }

    subscript(key: String) -> JSON { JSON((value as? [String: Any])?[key]) }
    subscript(index: Int) -> JSON {
        guard let array = value as? [Any], array.indices.contains(index) else { return JSON(nil) }
        return JSON(array[index])
    }

    var exists: Bool { value != nil && !(value is NSNull) }
    var isNull: Bool { value is NSNull }
    var string: String? { value as? String }
    var bool: Bool? { value as? Bool }
    var double: Double? { (value as? NSNumber)?.doubleValue }
    /// An integral number as Int.
    var int: Int? {
        guard let double, double.rounded() == double, abs(double) < 1e15 else { return nil }
        return Int(double)
    }
    var array: [JSON]? { (value as? [Any])?.map(JSON.init) }
    var object: [String: JSON]? { (value as? [String: Any])?.mapValues(JSON.init) }
    var keys: Set<String> { Set((value as? [String: Any])?.keys.map { $0 } ?? []) }

    var description: String {
        guard let value, JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return "\(value ?? "nil")" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Requests with Foundation's URLSession (libcurl underneath on Linux).
enum HTTP {
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 120
        configuration.timeoutIntervalForResource = 300
        return URLSession(configuration: configuration)
    }()

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends one request and waits for the whole response. A POST body without a
    /// Content-Type goes as application/octet-stream (never a form).
    static func send(_ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil) throws -> HTTPReply {
        guard let target = URL(string: url) else { throw Failure(description: "bad URL \(url)") }
        var request = URLRequest(url: target)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = body
            if headers.keys.allSatisfy({ $0.lowercased() != "content-type" }) {
                request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
            }
        }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<HTTPReply, Error> = .failure(Failure(description: "no answer"))
        let task = session.dataTask(with: request) { data, response, error in
            if let error {
                outcome = .failure(Failure(description: "\(method) \(url): \(error)"))
            } else if let response = response as? HTTPURLResponse {
                var fields: [String: String] = [:]
                for (name, value) in response.allHeaderFields {
                    fields["\(name)".lowercased()] = "\(value)"
                }
                outcome = .success(HTTPReply(status: response.statusCode, headers: fields, body: data ?? Data()))
            }
            done.signal()
        }
        task.resume()
        done.wait()
        return try outcome.get()
    }

    static func get(_ url: String, headers: [String: String] = [:]) throws -> HTTPReply {
        try send("GET", url, headers: headers)
    }

    static func post(_ url: String, body: Data, contentType: String = "application/octet-stream",
                     headers: [String: String] = [:]) throws -> HTTPReply {
        var all = headers
        all["Content-Type"] = contentType
        return try send("POST", url, headers: all, body: body)
    }
}

/// What a program printed.
struct ProcessOutput {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs programs found on PATH, their output going to files (no pipe can fill up).
enum Programs {
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ProcessOutput {
        let folder = try TemporaryFolder("seer-process")
        defer { folder.remove() }
        let out = folder.file("out"), err = folder.file("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        defer { try? outHandle.close(); try? errHandle.close() }
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let read = { (url: URL) in (try? String(contentsOf: url, encoding: .utf8)) ?? "" }
        return ProcessOutput(status: process.terminationStatus, stdout: read(out), stderr: read(err))
    }

    /// Runs an inline Python 3 script; `sys.argv[1:]` are `arguments`.
    static func python(_ script: String, _ arguments: [String] = [], interpreter: String = "python3") throws -> ProcessOutput {
        try run(interpreter, ["-c", script] + arguments)
    }
}

/// The `curl` command line as a client.
enum Curl {
    struct Result {
        let reply: HTTPReply
        /// curl's stderr (its `-v` trace when asked for).
        let trace: String
        let exitStatus: Int32
    }

    /// Runs `curl <arguments> URL`, keeping the final response's status, headers and body.
    static func run(_ arguments: [String], verbose: Bool = false) throws -> Result {
        let folder = try TemporaryFolder("seer-curl")
        defer { folder.remove() }
        let headerFile = folder.file("headers"), bodyFile = folder.file("body")
        var all = ["--silent", "--show-error", "--max-time", "120", "-D", headerFile.path, "-o", bodyFile.path]
        if verbose { all.append("-v") }
        let output = try Programs.run("curl", all + arguments)
        let headerText = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
        let body = (try? Data(contentsOf: bodyFile)) ?? Data()
        let (status, headers) = parseFinalHead(headerText)
        return Result(reply: HTTPReply(status: status, headers: headers, body: body), trace: output.stderr, exitStatus: output.status)
    }

    /// The last header block of a `-D` dump (interim 100 responses come first).
    static func parseFinalHead(_ text: String) -> (Int, [String: String]) {
        let blocks = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n")
            .filter { $0.hasPrefix("HTTP/") }
        guard let last = blocks.last else { return (0, [:]) }
        let lines = last.split(separator: "\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }
}

/// Assertions shared by the test classes.
enum Expect {
    /// The contract's error: status, JSON body `{success: false, error, code, request_id}`, `X-Request-Id` equal to `request_id`.
    static func error(_ reply: HTTPReply, status: Int, code: String, _ context: String = "",
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reply.status, status, "\(context): \(reply.text)", file: file, line: line)
        let body = reply.json
        XCTAssertEqual(body["success"].bool, false, "\(context): \(reply.text)", file: file, line: line)
        XCTAssertEqual(body["code"].string, code, "\(context): \(reply.text)", file: file, line: line)
        XCTAssertFalse((body["error"].string ?? "").isEmpty, "\(context): error message missing in \(reply.text)", file: file, line: line)
        XCTAssertNotNil(body["request_id"].string, "\(context): \(reply.text)", file: file, line: line)
        XCTAssertEqual(body["request_id"].string, reply.header("X-Request-Id"), "\(context)", file: file, line: line)
        XCTAssertTrue(reply.header("Content-Type")?.hasPrefix("application/json") ?? false, "\(context)", file: file, line: line)
    }
}

/// Reads a file or fails the test with its path.
func contents(of url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> Data {
    do { return try Data(contentsOf: url) } catch {
        XCTFail("cannot read \(url.path): \(error)", file: file, line: line)
        throw error
    }
}

/// A value shared between client threads, guarded by a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&value) } }
    /// A copy, for reading once the writers are done.
    var current: Value { lock.withLock { value } }
    /// Reads while writers may still run: `body` sees the value under the lock. (A copy taken by
    /// `current` may share its storage with the value, and ThreadSanitizer caught an optimised
    /// build reading that storage while a writer appended to it.)
    func read<Result>(_ body: (Value) throws -> Result) rethrows -> Result { try lock.withLock { try body(value) } }
}
