import App
import ArgumentParser
import Foundation
import HTTPServer

/// One request answered by the service's own router, without a server: the commands that answer
/// like an endpoint (`seer detect`, `seer anomaly`, ...) load the models folder into an
/// `Application` with a throwaway database, post the file's bytes and return the response.
struct OfflineRequest {
    var path: String
    var file: String
    /// Query parameters in order; nil values are left out.
    var parameters: [(name: String, value: String?)]
    var accept: String?

    func send(modelsFolder: String, threads: Int) throws -> Response {
        let body: Data
        do { body = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw CommandError("cannot read \(file): \(error.localizedDescription)")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("seer-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var configuration = ServiceConfiguration(modelsDirectory: URL(fileURLWithPath: modelsFolder).standardizedFileURL,
                                                 dataDirectory: scratch)
        configuration.workers = 1
        configuration.threadsPerWorker = max(1, threads)
        let application = try Application(configuration: configuration)
        defer { application.shutdown() }
        for (name, failure) in application.loadModels() {
            FileHandle.standardError.write(Data("warning: model '\(name)' did not load: \(failure)\n".utf8))
        }
        var headers: HTTPHeaders = ["Content-Type": "application/octet-stream"]
        if let accept { headers.set(name: "Accept", value: accept) }
        return application.handle(try Request(method: "POST", target: target, headers: headers, body: body))
    }

    var target: String {
        let query = parameters.compactMap { name, value in
            value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" }
        }
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }
}

/// Prints a response body as the command's output; a 4xx/5xx exits non-zero after printing it.
func printBody(of response: Response) throws {
    FileHandle.standardOutput.write(response.body)
    FileHandle.standardOutput.write(Data("\n".utf8))
    if response.status >= 400 { throw ExitCode.failure }
}
