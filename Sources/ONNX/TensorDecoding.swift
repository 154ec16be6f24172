import Foundation
import TensorRuntime
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading ONNX `TensorProto` files (the `input_N.pb` / `output_N.pb` files of the ONNX test data).
public enum TensorProtoFile {
    /// Reads one serialized `TensorProto`. External data, if any, is looked up beside the file.
    public static func read(contentsOf url: URL) throws -> Tensor {
        try readNamed(contentsOf: url).tensor
    }

    /// The tensor and the name stored in it (often the graph input it feeds).
    public static func readNamed(contentsOf url: URL) throws -> (name: String, tensor: Tensor) {
        let data = try readFile(url)
        return try decodeNamed(data, externalDataDirectory: url.deletingLastPathComponent())
    }

    /// Decodes one serialized `TensorProto`.
    public static func decode(_ data: Data, externalDataDirectory: URL? = nil) throws -> Tensor {
        try decodeNamed(data, externalDataDirectory: externalDataDirectory).tensor
    }

    public static func decodeNamed(_ data: Data, externalDataDirectory: URL? = nil) throws -> (name: String, tensor: Tensor) {
        let proto = try TensorProto(data)
        return (proto.name, try proto.makeTensor(externalDataDirectory: externalDataDirectory))
    }
}

func readFile(_ url: URL) throws -> Data {
    do {
        return try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
        throw ONNXError.unreadableFile(path: url.path, reason: (error as NSError).localizedDescription)
    }
}

extension TensorProto {
    var displayName: String { name.isEmpty ? "(unnamed)" : name }

    /// The element type, or an error naming the ONNX type Seer lacks.
    func dataType() throws -> DataType {
        guard let type = DataType(rawValue: dataTypeCode) else {
            throw ONNXError.unsupportedDataType(tensor: displayName, type: onnxTypeName(dataTypeCode))
        }
        return type
    }

    /// Shape and element count, with every dimension checked before any allocation.
    func checkedShape() throws -> (shape: [Int], count: Int) {
        var count = 1
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for dim in dims {
            guard dim >= 0, dim <= Int64(Int.max) else {
                throw ONNXError.invalidModel("tensor '\(displayName)' has invalid dimension \(dim) in \(dims)")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow else {
                throw ONNXError.invalidModel("tensor '\(displayName)' shape \(dims) has too many elements")
            }
            count = product
            shape.append(Int(dim))
        }
        return (shape, count)
    }

    /// Builds the tensor, copying its data out of whichever field holds it.
    func makeTensor(externalDataDirectory: URL?) throws -> Tensor {
        let type = try dataType()
        guard !hasSegment else {
            throw ONNXError.invalidModel("tensor '\(displayName)' is split into segments, which Seer does not support")
        }
        let (shape, count) = try checkedShape()
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: type.byteSize)
        guard !overflow else {
            throw ONNXError.invalidModel("tensor '\(displayName)' shape \(dims) has too many bytes")
        }

        if dataLocation == TensorProto.externalLocation {
            let bytes = try readExternalData(directory: externalDataDirectory, byteCount: byteCount)
            return tensorFromLittleEndian(bytes, type: type, shape: shape)
        }
        if let rawData {
            guard rawData.count == byteCount else {
                throw ONNXError.invalidModel("tensor '\(displayName)' of type \(type) and shape \(shape) needs \(byteCount) bytes of raw_data, found \(rawData.count)")
            }
            return tensorFromLittleEndian(rawData, type: type, shape: shape)
        }
        return try tensorFromTypedFields(type: type, shape: shape, count: count)
    }

    private func tensorFromLittleEndian(_ bytes: Data, type: DataType, shape: [Int]) -> Tensor {
        let tensor = Tensor(dataType: type, shape: shape)
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            tensor.storage.pointer.copyMemory(from: base, byteCount: raw.count)
        }
        if type == .bool {
            // A Swift Bool must be exactly 0 or 1; ONNX allows any non-zero byte for true.
            let bytes = tensor.storage.pointer.assumingMemoryBound(to: UInt8.self)
            for index in 0..<tensor.count where bytes[index] > 1 { bytes[index] = 1 }
        }
        return tensor
    }

    /// Data in float_data / int32_data / int64_data / double_data / uint64_data, as the spec assigns each type.
    private func tensorFromTypedFields(type: DataType, shape: [Int], count: Int) throws -> Tensor {
        let found: Int
        switch type {
        case .float32: found = floatData.count
        case .float64: found = doubleData.count
        case .int64: found = int64Data.count
        case .uint32, .uint64: found = uint64Data.count
        case .int32, .int16, .int8, .uint16, .uint8, .bool, .float16: found = int32Data.count
        }
        guard found == count else {
            throw ONNXError.invalidModel("tensor '\(displayName)' of type \(type) and shape \(shape) has \(found) values, expected \(count)")
        }
        let tensor = Tensor(dataType: type, shape: shape)
        guard count > 0 else { return tensor }
        switch type {
        case .float32: fill(tensor, Float.self, floatData) { Float(bitPattern: $0) }
        case .float64: fill(tensor, Double.self, doubleData) { Double(bitPattern: $0) }
        case .int64: fill(tensor, Int64.self, int64Data) { Int64(bitPattern: $0) }
        case .uint64: fill(tensor, UInt64.self, uint64Data) { $0 }
        case .uint32: fill(tensor, UInt32.self, uint64Data) { UInt32(truncatingIfNeeded: $0) }
        case .int32: fill(tensor, Int32.self, int32Data) { Int32(truncatingIfNeeded: $0) }
        case .int16: fill(tensor, Int16.self, int32Data) { Int16(truncatingIfNeeded: $0) }
        case .int8: fill(tensor, Int8.self, int32Data) { Int8(truncatingIfNeeded: $0) }
        case .uint16: fill(tensor, UInt16.self, int32Data) { UInt16(truncatingIfNeeded: $0) }
        case .uint8: fill(tensor, UInt8.self, int32Data) { UInt8(truncatingIfNeeded: $0) }
        case .bool: fill(tensor, Bool.self, int32Data) { $0 & 0xFFFF_FFFF != 0 }
        case .float16: fill(tensor, Float16.self, int32Data) { Float16(bitPattern: UInt16(truncatingIfNeeded: $0)) }
        }
        return tensor
    }

    private func fill<Element: TensorElement, Source>(_ tensor: Tensor, _ type: Element.Type, _ source: [Source],
                                                      _ convert: (Source) -> Element) {
        tensor.withUnsafeMutableBuffer(of: type) { buffer in
            for index in 0..<buffer.count { buffer[index] = convert(source[index]) }
        }
    }

    /// The bytes of a tensor stored in a file beside the model (`data_location: EXTERNAL`).
    /// Only regular files inside `directory` are read: absolute paths, `..` and symlinks
    /// that lead outside it are refused. Messages name the location as given, never the
    /// folder's absolute path (a server must not reveal its layout to uploaders).
    private func readExternalData(directory: URL?, byteCount: Int) throws -> Data {
        func fail(_ reason: String) -> ONNXError { .externalData(tensor: displayName, reason: reason) }
        var entries: [String: String] = [:]
        for entry in externalData { entries[entry.key] = entry.value }
        guard let location = entries["location"], !location.isEmpty else {
            throw fail("no 'location' entry")
        }
        guard let directory else {
            throw fail("the model was loaded from memory without a base directory, so '\(location)' cannot be resolved")
        }
        guard !location.hasPrefix("/"), !location.hasPrefix("\\"), !location.contains("\0") else {
            throw fail("location '\(location)' must be a relative path inside the model's folder")
        }
        let components = location.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        guard !components.contains("..") else {
            throw fail("location '\(location)' leaves the model's folder")
        }
        let offset = try parseNonNegative(entries["offset"] ?? "0", key: "offset")
        let length = try parseNonNegative(entries["length"] ?? String(byteCount), key: "length")
        guard length == byteCount else {
            throw fail("length \(length) does not match the \(byteCount) bytes its type and shape \(dims) need")
        }

        guard let base = canonicalPath(directory.path) else {
            throw fail("model folder '\(directory.path)' does not exist")
        }
        let candidate = (base as NSString).appendingPathComponent(location)
        guard let resolved = canonicalPath(candidate) else {
            throw fail("file '\(location)' does not exist in the model's folder")
        }
        guard resolved.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
            throw fail("location '\(location)' resolves outside the model's folder")
        }
        var status = stat()
        guard stat(resolved, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw fail("'\(location)' is not a regular file")
        }
        let fileSize = Int(status.st_size)
        guard offset <= fileSize, length <= fileSize - offset else {
            throw fail("bytes \(offset)..<\(offset)+\(length) run past the end of '\(location)' (\(fileSize) bytes)")
        }
        guard let handle = FileHandle(forReadingAtPath: resolved) else {
            throw fail("cannot open '\(location)'")
        }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let bytes = try handle.read(upToCount: length) ?? Data()
            guard bytes.count == length else { throw fail("'\(location)' ended after \(bytes.count) of \(length) bytes") }
            return bytes
        } catch let error as ONNXError {
            throw error
        } catch {
            throw fail("reading '\(location)' failed: \(error)")
        }
    }

    private func parseNonNegative(_ text: String, key: String) throws -> Int {
        guard let value = Int(text), value >= 0 else {
            throw ONNXError.externalData(tensor: displayName, reason: "'\(key)' must be a non-negative integer, got '\(text)'")
        }
        return value
    }
}

/// The absolute path with every symlink resolved, or nil if it does not exist.
func canonicalPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
