import Foundation

/// One field of a form: a multipart part, or a `name=value` pair of a url-encoded body.
public struct FormPart: Equatable, Sendable {
    public var name: String
    /// The `filename` of a file part (nil for plain fields).
    public var filename: String?
    /// The part's own `Content-Type` (nil if not given).
    public var contentType: String?
    public var headers: HTTPHeaders
    public var data: Data

    public init(name: String, filename: String? = nil, contentType: String? = nil,
                headers: HTTPHeaders = HTTPHeaders(), data: Data) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
        self.data = data
    }

    /// The content as UTF-8 text (invalid bytes replaced).
    public var text: String { String(decoding: data, as: UTF8.self) }
}

/// A decoded form body. Parts are kept in body order; the whole body stays in
/// memory (bounded by `HTTPLimits.maxBodyBytes`).
public struct FormData: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case multipart, urlEncoded
    }

    public var kind: Kind
    public var parts: [FormPart]

    public init(kind: Kind, parts: [FormPart]) {
        self.kind = kind
        self.parts = parts
    }

    /// The first part named `name`, file or not.
    public func part(_ name: String) -> FormPart? {
        parts.first { $0.name == name }
    }

    /// The text of the first non-file part named `name`.
    public func field(_ name: String) -> String? {
        parts.first { $0.name == name && $0.filename == nil }?.text
    }

    /// Parses a body by its `Content-Type`: multipart/form-data (malformed -> 400)
    /// or application/x-www-form-urlencoded (more fields than `maxMultipartParts` -> 400);
    /// nil for any other type. A url-encoded body that does not decode is left alone
    /// (nil): curl labels every `--data-binary` upload that way unless told otherwise.
    public static func parse(body: Data, contentType: String?, limits: HTTPLimits = HTTPLimits()) throws -> FormData? {
        guard let contentType else { return nil }
        let type = HeaderValue(contentType)
        switch type.value.lowercased() {
        case "multipart/form-data":
            guard let boundary = type.parameters["boundary"], !boundary.isEmpty, boundary.utf8.count <= 200 else {
                throw HTTPError.badRequest("multipart/form-data Content-Type has no usable boundary parameter")
            }
            return try MultipartParser(body: body, boundary: boundary, limits: limits).parse()
        case "application/x-www-form-urlencoded":
            guard let text = String(data: body, encoding: .utf8) else { return nil }
            // Counted before decoding: every field costs far more memory than its bytes in the body.
            guard PercentDecoding.formFieldCount(text.utf8) <= limits.maxMultipartParts else {
                throw HTTPError.badRequest("url-encoded form body has more than \(limits.maxMultipartParts) fields")
            }
            guard let pairs = PercentDecoding.formPairs(Substring(text)) else { return nil }
            return FormData(kind: .urlEncoded, parts: pairs.map { FormPart(name: $0.0, data: Data($0.1.utf8)) })
        default:
            return nil
        }
    }
}

/// A header value split into its main value and `;`-separated parameters
/// (names lowercased, quoted values unquoted; `name*=UTF-8''…` decoded into `name`).
struct HeaderValue {
    var value: String
    var parameters: [String: String] = [:]

    init(_ text: String) {
        let pieces = Self.splitOutsideQuotes(text)
        value = pieces.first?.trimmingCharacters(in: .whitespaces) ?? ""
        var extended: [String: String] = [:]
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let name = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let raw = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if name.hasSuffix("*") {
                if let decoded = Self.decodeExtended(raw) { extended[String(name.dropLast())] = decoded }
            } else if parameters[name] == nil {
                parameters[name] = Self.unquote(raw)
            }
        }
        parameters.merge(extended) { _, new in new }
    }

    private static func splitOutsideQuotes(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped {
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == ";" && !quoted {
                pieces.append(current)
                current = ""
                continue
            }
            current.append(character)
        }
        pieces.append(current)
        return pieces
    }

    private static func unquote(_ text: String) -> String {
        guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return text }
        var result = ""
        var escaped = false
        for character in text.dropFirst().dropLast() {
            if !escaped && character == "\\" {
                escaped = true
                continue
            }
            escaped = false
            result.append(character)
        }
        return result
    }

    /// RFC 8187 `charset'language'percent-encoded` (UTF-8 only).
    private static func decodeExtended(_ text: String) -> String? {
        let parts = text.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].lowercased() == "utf-8" else { return nil }
        return PercentDecoding.decode(parts[2].utf8, plusIsSpace: false)
    }
}

/// multipart/form-data (RFC 7578) over a body held in memory.
struct MultipartParser {
    let body: Data
    let delimiter: [UInt8]
    let limits: HTTPLimits

    init(body: Data, boundary: String, limits: HTTPLimits) {
        self.body = body
        self.delimiter = Array("--\(boundary)".utf8)
        self.limits = limits
    }

    func parse() throws -> FormData {
        try body.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            let bytes = bytes.bindMemory(to: UInt8.self)
            return try parse(bytes)
        }
    }

    private func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> FormData {
        let crlfDelimiter = Array("\r\n".utf8) + delimiter
        var position: Int
        if hasPrefix(bytes, delimiter, at: 0) {
            position = 0
        } else if let found = find(crlfDelimiter, in: bytes, from: 0) {
            position = found + 2
        } else {
            throw HTTPError.badRequest("multipart body does not contain the boundary given in Content-Type")
        }
        var parts: [FormPart] = []
        while true {
            var cursor = position + delimiter.count
            if hasPrefix(bytes, Array("--".utf8), at: cursor) { break }
            while cursor < bytes.count && (bytes[cursor] == 0x20 || bytes[cursor] == 0x09) { cursor += 1 }
            if hasPrefix(bytes, Array("\r\n".utf8), at: cursor) {
                cursor += 2
            } else if cursor < bytes.count && bytes[cursor] == UInt8(ascii: "\n") {
                cursor += 1
            } else if cursor >= bytes.count {
                throw Self.missingClose
            } else {
                throw HTTPError.badRequest("multipart boundary line is followed by unexpected bytes")
            }
            guard let end = find(crlfDelimiter, in: bytes, from: cursor) else { throw Self.missingClose }
            guard parts.count < limits.maxMultipartParts else {
                throw HTTPError.badRequest("multipart body has more than \(limits.maxMultipartParts) parts")
            }
            parts.append(try parsePart(bytes, from: cursor, to: end))
            position = end + 2
        }
        return FormData(kind: .multipart, parts: parts)
    }

    private static let missingClose = HTTPError.badRequest("multipart body ends without the closing boundary")

    private func parsePart(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) throws -> FormPart {
        var headers = HTTPHeaders()
        var cursor = start
        while true {
            guard let lineEnd = find(Array("\r\n".utf8), in: bytes, from: cursor), lineEnd + 2 <= end else {
                throw HTTPError.badRequest("multipart part has no blank line after its headers")
            }
            guard lineEnd - start <= limits.maxHeaderBytes else {
                throw HTTPError.headersTooLarge("multipart part headers are larger than \(limits.maxHeaderBytes) bytes")
            }
            let line = UnsafeBufferPointer(rebasing: bytes[cursor..<lineEnd])
            cursor = lineEnd + 2
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw HTTPError.badRequest("multipart part header line without ':'")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            headers.add(name: name, value: value)
            guard headers.count <= limits.maxHeaderCount else {
                throw HTTPError.headersTooLarge("multipart part has more than \(limits.maxHeaderCount) header fields")
            }
        }
        guard let disposition = headers["Content-Disposition"].map(HeaderValue.init),
              disposition.value.lowercased() == "form-data", let name = disposition.parameters["name"] else {
            throw HTTPError.badRequest("multipart part lacks 'Content-Disposition: form-data; name=…'")
        }
        let data = Data(UnsafeBufferPointer(rebasing: bytes[cursor..<end]))
        return FormPart(name: name, filename: disposition.parameters["filename"],
                        contentType: headers["Content-Type"], headers: headers, data: data)
    }

    private func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: [UInt8], at offset: Int) -> Bool {
        guard offset + prefix.count <= bytes.count else { return false }
        for index in 0..<prefix.count where bytes[offset + index] != prefix[index] { return false }
        return true
    }

    /// Index of the first occurrence of `needle` at or after `from`.
    private func find(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let base = bytes.baseAddress, let first = needle.first else { return nil }
        var offset = from
        while offset + needle.count <= bytes.count {
            guard let hit = memchr(base + offset, Int32(first), bytes.count - offset - needle.count + 1) else { return nil }
            let index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if hasPrefix(bytes, needle, at: index) { return index }
            offset = index + 1
        }
        return nil
    }
}
