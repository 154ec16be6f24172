import ArgumentParser
import Foundation

/// Options shared by the commands that answer like an endpoint, without a server.
struct EndpointOptions: ParsableArguments {
    @Option(help: "Models folder.") var models = "models"
    @Option(help: "Registry name of the model (default: the task's default model).") var model: String?
    @Option(name: .customLong("min-confidence"), help: "Drop predictions below this confidence.") var minConfidence: Double?
    @Option(name: .customLong("max-results"), help: "Return at most this many predictions.") var maxResults: Int?
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    /// Runs `path` on the file's bytes through the service's own router and prints the JSON body;
    /// exits non-zero with the error body on failure.
    func answer(_ path: String, file: String, extra: [(name: String, value: String?)] = []) throws {
        try reportingErrors {
            let parameters: [(name: String, value: String?)] = [("model", model), ("min_confidence", minConfidence.map { String($0) }),
                              ("max_results", maxResults.map(String.init))] + extra
            let request = OfflineRequest(path: path, file: file, parameters: parameters)
            try printBody(of: request.send(modelsFolder: models, threads: threads))
        }
    }
}

struct FacesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "faces", abstract: "Faces and landmarks in an image (as POST /faces).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @Option(help: "age, gender or age,gender.") var attributes: String?
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/faces", file: file, extra: [("attributes", attributes)]) }
}

struct AgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "age", abstract: "Faces with their age (as POST /age).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @Option(help: "Add gender with 'gender'.") var attributes: String?
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/age", file: file, extra: [("attributes", attributes)]) }
}

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "detect", abstract: "Objects in an image (as POST /detect).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @Option(help: "Comma-separated class labels to keep.") var classes: String?
    @Option(help: "NMS IoU threshold.") var iou: Double?
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/detect", file: file, extra: [("classes", classes), ("iou", iou.map { String($0) })]) }
}

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "segment", abstract: "A segmentation mask (as POST /segment).")
    @Argument(help: "A JPEG or PNG file.") var file: String
    @OptionGroup var options: EndpointOptions
    func run() throws { try options.answer("/segment", file: file) }
}
