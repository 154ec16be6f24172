import Foundation
import HTTPServer
import XCTest

/// Thread-safe list of the records the observer received.
final class RecordLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [RequestRecord] = []

    func append(_ record: RequestRecord) { lock.withLock { list.append(record) } }
    var records: [RequestRecord] { lock.withLock { list } }
}

/// A server on 127.0.0.1 port 0 with test routes and an observer that keeps every record.
final class TestServer: @unchecked Sendable {
    let server: HTTPServer
    let log = RecordLog()
    /// Signalled by `/block` when its handler starts; the handler then waits for `release`.
    let blockEntered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)

    init(limits: HTTPLimits = HTTPLimits()) throws {
        let router = Router()
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0, limits: limits)
        let log = self.log
        server = HTTPServer(configuration: configuration, handler: router.handler) { log.append($0) }
        Self.addRoutes(to: router, blockEntered: blockEntered, release: release)
        server.bodyGate = router.check
        try server.start()
    }

    deinit {
        server.shutdown(gracePeriod: 5)
    }

    var port: Int { server.port }
    var url: String { "http://127.0.0.1:\(server.port)" }

    /// Every record, after a shutdown has made sure all were reported.
    func stopAndCollect() -> [RequestRecord] {
        server.shutdown(gracePeriod: 30)
        return log.records
    }

    private static func addRoutes(to router: Router, blockEntered: DispatchSemaphore, release: DispatchSemaphore) {
        router.get("/hello") { request in .text("hello \(request.parameter("n") ?? "")") }
        router.get("/path/{rest}") { request in .text("path=\(request.path) rest=\(request.pathParameters["rest"] ?? "")") }
        router.post("/echo") { request in
            var response = Response(status: 200, headers: ["Content-Type": request.headers["Content-Type"] ?? "application/octet-stream"],
                                    body: request.body)
            response.headers.add(name: "X-Body-Length", value: String(request.body.count))
            return response
        }
        // Describes the upload the way an image endpoint would find it.
        router.post("/upload") { request, completion in
            DispatchQueue.global().async {
                guard let upload = request.upload(fields: ["image", "file"]) else {
                    return completion(.failure(HTTPError(status: 400, code: "invalid_image", message: "no image in the request")))
                }
                let summary: [String: String] = [
                    "field": upload.field ?? "(body)", "filename": upload.filename ?? "", "type": upload.contentType ?? "",
                    "size": String(upload.data.count), "checksum": String(Self.checksum(upload.data)),
                    "model": request.parameter("model") ?? "", "request_id": request.id,
                ]
                completion(Result { try Response.json(summary) })
            }
        }
        router.get("/big") { request in
            let count = Int(request.parameter("bytes") ?? "") ?? 0
            return Response(status: 200, body: Data(repeating: UInt8(ascii: "x"), count: count))
        }
        router.get("/block") { _, completion in
            blockEntered.signal()
            DispatchQueue.global().async {
                release.wait()
                completion(.success(.text("released")))
            }
        }
    }

    /// A simple checksum both Swift and the Python clients compute (sum of bytes mod 2^32).
    static func checksum(_ data: Data) -> UInt32 {
        data.reduce(UInt32(0)) { $0 &+ UInt32($1) }
    }
}

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

enum Tools {
    /// A started program whose output goes to temporary files.
    final class Running {
        let process = Process()
        private let directory: URL

        init(_ executable: String, _ arguments: [String]) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-http-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("out").path, contents: nil)
            _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("err").path, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
            process.standardOutput = try FileHandle(forWritingTo: directory.appendingPathComponent("out"))
            process.standardError = try FileHandle(forWritingTo: directory.appendingPathComponent("err"))
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        /// Waits for the exit and returns the output.
        func finish() -> ProcessResult {
            process.waitUntilExit()
            defer { try? FileManager.default.removeItem(at: directory) }
            let read = { (name: String) in
                (try? String(contentsOf: self.directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
            }
            return ProcessResult(status: process.terminationStatus, stdout: read("out"), stderr: read("err"))
        }
    }

    /// Runs a program to completion.
    static func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        try Running(executable, arguments).finish()
    }

    static func curl(_ arguments: [String]) throws -> ProcessResult {
        try run("curl", ["--silent", "--show-error", "--max-time", "60"] + arguments)
    }

    /// Runs an inline Python 3 script; `sys.argv[1:]` are `arguments`.
    static func python(_ script: String, _ arguments: [String]) throws -> ProcessResult {
        try run("python3", ["-c", script] + arguments)
    }

    static func temporaryFile(_ data: Data, name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-http-\(UUID().uuidString)-\(name)")
        try data.write(to: url)
        return url
    }

    /// Deterministic pseudo-random bytes (xorshift) so uploads are not trivially compressible.
    static func bytes(count: Int, seed: UInt64 = 0x9E3779B97F4A7C15) -> Data {
        var state = seed
        var data = Data(count: count)
        data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
            for index in 0..<count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                buffer[index] = UInt8(truncatingIfNeeded: state)
            }
        }
        return data
    }
}

/// Python helpers shared by the socket scripts.
let pythonPrelude = """
import socket, sys, json, time, threading, http.client
PORT = int(sys.argv[1])

def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    return s

def read_response(s, buffered=b""):
    # Reads one response (status, headers dict, body, leftover bytes); None if the connection closed first.
    data = buffered
    while b"\\r\\n\\r\\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, rest = data.split(b"\\r\\n\\r\\n", 1)
    lines = head.decode("latin-1").split("\\r\\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return status, headers, rest[:length], rest[length:]

def try_read_response(s):
    try:
        return read_response(s)
    except (ConnectionResetError, BrokenPipeError):
        return None
"""
