import Foundation
import TensorRuntime

/// NumPy `.npy` files (format versions 1-3): C-order, little-endian arrays of the types a
/// `Tensor` holds. Fortran order, big-endian data and structured dtypes are refused by name.
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // "\x93NUMPY"

    public static func read(contentsOf url: URL) throws -> Tensor {
        try decode(try readFile(url))
    }

    /// Writes the header, then the tensor's bytes straight from its storage (no copy of the tensor),
    /// to a temporary file beside `url` that then replaces `url`, so readers never see half a file.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let partial = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")
        do {
            guard FileManager.default.createFile(atPath: partial.path, contents: try header(for: tensor)) else {
                throw CocoaError(.fileWriteUnknown)
            }
            let handle = try FileHandle(forWritingTo: partial)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(bytesNoCopy: tensor.storage.pointer, count: tensor.byteCount, deallocator: .none))
            guard rename(partial.path, url.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw ONNXError.unreadableFile(path: url.path, reason: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    public static func decode(_ data: Data) throws -> Tensor {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw ONNXError.invalidNPY("missing the \\x93NUMPY magic string")
        }
        let major = bytes[6]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw ONNXError.invalidNPY("file ends inside the header length") }
            headerStart = 12
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default:
            throw ONNXError.invalidNPY("unsupported format version \(major).\(bytes[7])")
        }
        guard headerLength <= data.count - headerStart else {
            throw ONNXError.invalidNPY("header claims \(headerLength) bytes but the file has \(data.count - headerStart) after the preamble")
        }
        let headerBytes = data.dropFirst(headerStart).prefix(headerLength)
        guard let headerText = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw ONNXError.invalidNPY("header is not text")
        }
        let header = try Header(parsing: headerText)
        let payload = data.dropFirst(headerStart + headerLength)

        var count = 1
        for dim in header.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw ONNXError.invalidNPY("shape \(header.shape) has too many elements") }
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: header.dataType.byteSize)
        guard !overflow, payload.count == byteCount else {
            throw ONNXError.invalidNPY("shape \(header.shape) of \(header.dataType) needs \(count) × \(header.dataType.byteSize) bytes, the file holds \(payload.count)")
        }
        let tensor = Tensor(dataType: header.dataType, shape: header.shape)
        payload.withUnsafeBytes { raw in
            if let base = raw.baseAddress, byteCount > 0 { tensor.storage.pointer.copyMemory(from: base, byteCount: byteCount) }
        }
        if header.dataType == .bool {
            let values = tensor.storage.pointer.assumingMemoryBound(to: UInt8.self)
            for index in 0..<count where values[index] > 1 { values[index] = 1 }
        }
        return tensor
    }

    /// The `.npy` bytes of a tensor: version 1 (version 2 if the header is too long), padded to 64 bytes.
    public static func encode(_ tensor: Tensor) throws -> Data {
        var data = try header(for: tensor)
        data.append(Data(bytesNoCopy: tensor.storage.pointer, count: tensor.byteCount, deallocator: .none))
        return data
    }

    /// Magic, version, header length and the padded header dictionary: everything before the data.
    private static func header(for tensor: Tensor) throws -> Data {
        let shapeText: String
        switch tensor.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(tensor.shape[0]),)"
        default: shapeText = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        let dict = "{'descr': '\(descriptor(for: tensor.dataType))', 'fortran_order': False, 'shape': \(shapeText), }"
        var version: UInt8 = 1
        var preamble = 10
        var padded = paddedHeader(dict, preamble: preamble)
        if padded.utf8.count > Int(UInt16.max) {
            version = 2
            preamble = 12
            padded = paddedHeader(dict, preamble: preamble)
        }
        var data = Data(magic)
        data.append(contentsOf: [version, 0])
        let length = padded.utf8.count
        if version == 1 {
            data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        } else {
            data.append(contentsOf: (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) })
        }
        data.append(contentsOf: Array(padded.utf8))
        return data
    }

    private static func paddedHeader(_ dict: String, preamble: Int) -> String {
        let unpadded = preamble + dict.utf8.count + 1
        let padding = (64 - unpadded % 64) % 64
        return dict + String(repeating: " ", count: padding) + "\n"
    }

    private static func descriptor(for type: DataType) -> String {
        switch type {
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .float16: return "<f2"
        case .int64: return "<i8"
        case .int32: return "<i4"
        case .int16: return "<i2"
        case .int8: return "|i1"
        case .uint8: return "|u1"
        case .uint16: return "<u2"
        case .uint32: return "<u4"
        case .uint64: return "<u8"
        case .bool: return "|b1"
        }
    }

    private static func dataType(descriptor: String) throws -> DataType {
        guard descriptor.count >= 2, let order = descriptor.first else {
            throw ONNXError.invalidNPY("dtype '\(descriptor)' is not understood")
        }
        let code = String(descriptor.dropFirst())
        let types: [String: DataType] = [
            "f4": .float32, "f8": .float64, "f2": .float16, "i8": .int64, "i4": .int32, "i2": .int16,
            "i1": .int8, "u1": .uint8, "u2": .uint16, "u4": .uint32, "u8": .uint64, "b1": .bool,
        ]
        guard "<>|=".contains(order), let type = types[code] else {
            throw ONNXError.invalidNPY("dtype '\(descriptor)' is not supported (supported: float16/32/64, int8-64, uint8-64, bool)")
        }
        guard order != ">" || type.byteSize == 1 else {
            throw ONNXError.invalidNPY("dtype '\(descriptor)' is big-endian; save the array as little-endian (e.g. array.astype('<\(code)'))")
        }
        return type
    }

    /// The Python dict literal of an `.npy` header: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    private struct Header {
        var dataType: DataType
        var shape: [Int]

        init(parsing text: String) throws {
            var fields: [String: String] = [:]
            var scanner = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
            guard scanner.first == "{", scanner.last == "}" else {
                throw ONNXError.invalidNPY("header is not a dict literal: \(text.prefix(80))")
            }
            scanner = scanner.dropFirst().dropLast()
            while true {
                scanner = scanner.drop { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" }
                if scanner.isEmpty { break }
                let key = try Header.quoted(&scanner)
                scanner = scanner.drop { $0 == " " }
                guard scanner.first == ":" else { throw ONNXError.invalidNPY("expected ':' after '\(key)' in header") }
                scanner = scanner.dropFirst().drop { $0 == " " }
                let value: String
                if scanner.first == "'" || scanner.first == "\"" {
                    value = try Header.quoted(&scanner)
                } else if scanner.first == "(" {
                    guard let close = scanner.firstIndex(of: ")") else { throw ONNXError.invalidNPY("unterminated shape tuple in header") }
                    value = String(scanner[scanner.startIndex...close])
                    scanner = scanner[scanner.index(after: close)...]
                } else if scanner.first == "[" {
                    throw ONNXError.invalidNPY("structured dtypes (field '\(key)' is a list) are not supported")
                } else {
                    let end = scanner.firstIndex { $0 == "," || $0 == " " } ?? scanner.endIndex
                    value = String(scanner[..<end])
                    scanner = scanner[end...]
                }
                fields[key] = value
            }
            guard let descr = fields["descr"], let fortran = fields["fortran_order"], let shapeText = fields["shape"] else {
                throw ONNXError.invalidNPY("header lacks 'descr', 'fortran_order' or 'shape': \(text.prefix(120))")
            }
            guard fortran == "False" else {
                throw ONNXError.invalidNPY("the array is stored in Fortran order; save it in C order (numpy.ascontiguousarray)")
            }
            dataType = try NPY.dataType(descriptor: descr)
            let inner = shapeText.dropFirst().dropLast()
            shape = try inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { part in
                let digits = part.hasSuffix("L") ? String(part.dropLast()) : part
                guard let dim = Int(digits), dim >= 0 else { throw ONNXError.invalidNPY("invalid dimension '\(part)' in shape \(shapeText)") }
                return dim
            }
        }

        private static func quoted(_ scanner: inout Substring) throws -> String {
            guard let quote = scanner.first, quote == "'" || quote == "\"" else {
                throw ONNXError.invalidNPY("expected a quoted string in header at '\(scanner.prefix(20))'")
            }
            let body = scanner.dropFirst()
            guard let close = body.firstIndex(of: quote) else { throw ONNXError.invalidNPY("unterminated string in header") }
            scanner = body[body.index(after: close)...]
            return String(body[..<close])
        }
    }
}
