import Foundation
import HTTPServer

/// Typed request parameters (query string or form field), each refused with a 400 naming it.
struct Parameters {
    let request: Request

    func string(_ name: String) -> String? {
        guard let value = request.parameter(name)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    func fraction(_ name: String) throws -> Float? {
        guard let text = string(name) else { return nil }
        guard let value = Float(text), value.isFinite, (0...1).contains(value) else {
            throw HTTPError.invalidParameter("\(name) must be a number between 0 and 1, got '\(text.prefix(40))'")
        }
        return value
    }

    func number(_ name: String, in range: ClosedRange<Float>) throws -> Float? {
        guard let text = string(name) else { return nil }
        guard let value = Float(text), value.isFinite, range.contains(value) else {
            throw HTTPError.invalidParameter("\(name) must be a number in \(range.lowerBound)...\(range.upperBound), got '\(text.prefix(40))'")
        }
        return value
    }

    func count(_ name: String, max: Int = 100_000) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text), (0...max).contains(value) else {
            throw HTTPError.invalidParameter("\(name) must be a whole number from 0 to \(max), got '\(text.prefix(40))'")
        }
        return value
    }

    func fractions(_ name: String, count expected: Int) throws -> [Float]? {
        guard let text = string(name) else { return nil }
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == expected, values.allSatisfy({ $0 != nil && $0!.isFinite && (0...1).contains($0!) }) else {
            throw HTTPError.invalidParameter("\(name) must be \(expected) comma-separated numbers between 0 and 1, got '\(text.prefix(60))'")
        }
        return values.map { $0! }
    }

    func list(_ name: String) -> [String] {
        (string(name) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    /// The uploaded file: multipart field `field` (or `file`), or the raw body.
    func upload(field: String) throws -> Data {
        guard let upload = request.upload(fields: [field, "file"]), !upload.data.isEmpty else {
            if request.form != nil {
                throw HTTPError(status: 400, code: "bad_request", message: "the multipart body has no '\(field)' (or 'file') part")
            }
            throw HTTPError(status: 400, code: "bad_request",
                            message: "send the \(field) as the request body or as multipart field '\(field)'")
        }
        return upload.data
    }
}
