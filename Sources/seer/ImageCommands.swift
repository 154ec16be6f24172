import App
import ArgumentParser
import Foundation
import HTTPServer

/// Options shared by the commands that answer like an endpoint, without a server.
struct EndpointOptions: ParsableArguments {
    @Option(help: "Models folder.") var models = "models"
    @Option(help: "Registry name of the model (default: the task's default model).") var model: String?
    @Option(name: .customLong("min-confidence"), help: "Drop predictions below this confidence.") var minConfidence: Double?
    @Option(name: .customLong("max-results"), help: "Return at most this many predictions.") var maxResults: Int?
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    /// Runs `path` on the file's bytes through the service's own router, with a throwaway
    /// database, and prints the JSON body; exits non-zero with the error body on failure.
    func answer(_ path: String, file: String, extra: [String: String?] = [:]) throws {
        try reportingErrors {
            let body: Data
            do { body = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw CommandError("cannot read \(file): \(error.localizedDescription)")
            }
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("seer-cli-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            var configuration = ServiceConfiguration(modelsDirectory: URL(fileURLWithPath: models).standardizedFileURL, dataDirectory: scratch)
            configuration.workers = 1
            configuration.threadsPerWorker = max(1, threads)
            let application = try Application(configuration: configuration)
            for (name, failure) in application.loadModels() {
                FileHandle.standardError.write(Data("warning: model '\(name)' did not load: \(failure)\n".utf8))
            }
            var query: [String] = []
            let parameters: [String: String?] = ["model": model, "min_confidence": minConfidence.map { String($0) },
                                                 "max_results": maxResults.map(String.init)].merging(extra) { $1 }
            for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
                if let value { query.append("\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)") }
            }
            let target = query.isEmpty ? path : path + "?" + query.joined(separator: "&")
            let request = try Request(method: "POST", target: target, headers: ["Content-Type": "application/octet-stream"], body: body)
            let response = application.handle(request)
            FileHandle.standardOutput.write(response.body)
            FileHandle.standardOutput.write(Data("\n".utf8))
            application.shutdown()
            if response.status >= 400 { throw ExitCode.failure }
        }
    }
}

struct FacesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "faces", abstract: "Faces and landmarks in an image (as POST /faces).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @Option(help: "age, gender or age,gender.") var attributes: String?
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/faces", file: file, extra: ["attributes": attributes]) }
}

struct AgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "age", abstract: "Faces with their age (as POST /age).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @Option(help: "Add gender with 'gender'.") var attributes: String?
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/age", file: file, extra: ["attributes": attributes]) }
}

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "detect", abstract: "Objects in an image (as POST /detect).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @Option(help: "Comma-separated class labels to keep.") var classes: String?
    @Option(help: "NMS IoU threshold.") var iou: Double?
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/detect", file: file, extra: ["classes": classes, "iou": iou.map { String($0) }]) }
}

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "segment", abstract: "A segmentation mask (as POST /segment).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/segment", file: file) }
}
