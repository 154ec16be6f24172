import Foundation

/// A model folder's `manifest.json`: what the graphs are, how to feed them and
/// how to read their outputs. See models/README.md for every key.
public struct ModelManifest: Codable, Sendable, Equatable {
    public var name: String
    public var version: Int
    public var task: String
    public var isDefault: Bool?
    public var description: String?
    /// Role → ONNX file name inside the model's folder ("main" for single-graph models).
    public var graphs: [String: String]
    public var inputs: [String: InputSpec]?
    public var preprocessing: JSONValue?
    public var outputs: JSONValue?
    public var labels: [String]?
    public var thresholds: JSONValue?
    public var postprocessing: JSONValue?
    public var source: JSONValue?
    public var license: String?
    public var conversion: String?

    public struct InputSpec: Codable, Sendable, Equatable {
        public var name: String?
        public var layout: String?
        public var shape: [Int]?
        public var color: String?
    }

    enum CodingKeys: String, CodingKey {
        case name, version, task, isDefault = "default", description, graphs, inputs, preprocessing, outputs
        case labels, thresholds, postprocessing, source, license, conversion
    }

    public static func decode(_ data: Data) throws -> ModelManifest {
        try JSONDecoder().decode(ModelManifest.self, from: data)
    }
}

/// Any JSON value, for the task-specific parts of a manifest.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(object) = self { return object[key] }
        return nil
    }

    public var double: Double? { if case let .number(value) = self { return value }; return nil }
    public var float: Float? { double.map { Float($0) } }
    public var int: Int? { double.flatMap { $0.rounded() == $0 ? Int($0) : nil } }
    public var string: String? { if case let .string(value) = self { return value }; return nil }
    public var bool: Bool? { if case let .bool(value) = self { return value }; return nil }
    public var array: [JSONValue]? { if case let .array(value) = self { return value }; return nil }
    public var floats: [Float]? { array?.compactMap(\.float) }
    public var ints: [Int]? { array?.compactMap(\.int) }
}
