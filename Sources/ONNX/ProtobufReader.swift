import Foundation

// A hand-written reader for the protobuf wire format, rather than swift-protobuf:
// ONNX needs only a handful of message types, and swift-protobuf (its runtime plus
// generated onnx.pb.swift) adds minutes to every clean CI build. The wire format is
// small (varints, fixed 32/64-bit words, length-delimited bytes), so reading it by
// hand costs ~200 lines and lets every length be checked against the buffer before
// anything is allocated or sliced.

/// Why a protobuf message could not be read. Every case names what is wrong and where.
public struct ProtobufError: Error, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "malformed protobuf: \(message)" }
}

/// The low 3 bits of a field key.
public enum WireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Reads one protobuf message from a byte range. A sub-message is read by a new
/// reader over its bytes, one nesting level deeper; past `maximumDepth` reading stops
/// with an error, so hostile nesting cannot exhaust the stack.
public struct ProtobufReader {
    public static let maximumDepth = 64

    private let bytes: Data
    private var position: Int
    private let end: Int
    public let depth: Int
    /// What is being read, for error messages (e.g. "ModelProto.graph").
    public let context: String

    public init(_ bytes: Data, context: String = "message", depth: Int = 0) throws {
        guard depth <= ProtobufReader.maximumDepth else {
            throw ProtobufError("\(context): messages nested deeper than \(ProtobufReader.maximumDepth) levels")
        }
        self.bytes = bytes
        position = bytes.startIndex
        end = bytes.endIndex
        self.depth = depth
        self.context = context
    }

    public var isAtEnd: Bool { position >= end }

    /// The next field's number and wire type, or nil at the end of the message.
    public mutating func nextField() throws -> (number: Int, wireType: WireType)? {
        guard !isAtEnd else { return nil }
        let key = try readVarint()
        let number = key >> 3
        guard number >= 1, number <= (1 << 29) - 1 else {
            throw ProtobufError("\(context): invalid field number \(number) at byte \(position - bytes.startIndex)")
        }
        guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw ProtobufError("\(context): field \(number) has unknown wire type \(key & 7)")
        }
        return (Int(number), wireType)
    }

    public mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else {
                throw ProtobufError("\(context): varint runs past the end of the data")
            }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else {
                throw ProtobufError("\(context): varint longer than 10 bytes")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// An int64/int32/enum field: two's complement in a varint (negative values take 10 bytes).
    public mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readVarint()) }

    public mutating func readInt32() throws -> Int32 { Int32(truncatingIfNeeded: try readVarint()) }

    public mutating func readBool() throws -> Bool { try readVarint() != 0 }

    public mutating func readFixed32() throws -> UInt32 { try readFixedWord() }

    public mutating func readFixed64() throws -> UInt64 { try readFixedWord() }

    /// A little-endian fixed32 or fixed64 word.
    private mutating func readFixedWord<Word: FixedWidthInteger & UnsignedInteger>() throws -> Word {
        let slice = try take(Word.bitWidth / 8, what: "fixed\(Word.bitWidth)")
        return slice.withUnsafeBytes { Word(littleEndian: $0.loadUnaligned(as: Word.self)) }
    }

    public mutating func readFloat() throws -> Float { Float(bitPattern: try readFixed32()) }

    public mutating func readDouble() throws -> Double { Double(bitPattern: try readFixed64()) }

    /// A length-delimited field's bytes (shares the underlying buffer, no copy).
    public mutating func readLengthDelimited() throws -> Data {
        let length = try readVarint()
        let remaining = end - position
        guard length <= UInt64(remaining) else {
            throw ProtobufError("\(context): a field claims \(length) bytes but only \(remaining) remain")
        }
        return try take(Int(length), what: "length-delimited field")
    }

    public mutating func readString() throws -> String {
        String(decoding: try readLengthDelimited(), as: UTF8.self)
    }

    /// A reader for an embedded message, one level deeper.
    public mutating func readMessage(_ name: String) throws -> ProtobufReader {
        let body = try readLengthDelimited()
        return try ProtobufReader(body, context: "\(context).\(name)", depth: depth + 1)
    }

    /// Skips a field this reader does not need.
    public mutating func skip(_ wireType: WireType, field: Int) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try take(8, what: "fixed64")
        case .fixed32: _ = try take(4, what: "fixed32")
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup:
            throw ProtobufError("\(context): field \(field) uses deprecated groups, which ONNX never writes")
        }
    }

    // MARK: Repeated scalars: accepted packed (one length-delimited run) or unpacked (one value per key).

    public mutating func appendVarints(_ wireType: WireType, field: Int, to values: inout [UInt64]) throws {
        switch wireType {
        case .varint:
            values.append(try readVarint())
        case .lengthDelimited:
            var packed = try ProtobufReader(try readLengthDelimited(), context: context, depth: depth)
            while !packed.isAtEnd { values.append(try packed.readVarint()) }
        default:
            throw ProtobufError("\(context): field \(field) should hold varints, found wire type \(wireType.rawValue)")
        }
    }

    public mutating func appendFixed32s(_ wireType: WireType, field: Int, to values: inout [UInt32]) throws {
        try appendFixedWords(wireType, field: field, to: &values)
    }

    public mutating func appendFixed64s(_ wireType: WireType, field: Int, to values: inout [UInt64]) throws {
        try appendFixedWords(wireType, field: field, to: &values)
    }

    private mutating func appendFixedWords<Word: FixedWidthInteger & UnsignedInteger>(
        _ wireType: WireType, field: Int, to values: inout [Word]
    ) throws {
        let width = Word.bitWidth / 8
        let singular: WireType = width == 4 ? .fixed32 : .fixed64
        switch wireType {
        case singular:
            values.append(try readFixedWord())
        case .lengthDelimited:
            let run = try readLengthDelimited()
            guard run.count % width == 0 else {
                throw ProtobufError("\(context): packed field \(field) has \(run.count) bytes, not a multiple of \(width)")
            }
            values.reserveCapacity(values.count + run.count / width)
            run.withUnsafeBytes { raw in
                for offset in stride(from: 0, to: raw.count, by: width) {
                    values.append(Word(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Word.self)))
                }
            }
        default:
            throw ProtobufError("\(context): field \(field) should hold fixed\(Word.bitWidth) values, found wire type \(wireType.rawValue)")
        }
    }

    // MARK: Singular fields, read after checking the wire type their schema gives them.

    public mutating func string(_ wireType: WireType, field: String) throws -> String {
        try expect(wireType, .lengthDelimited, field: field)
        return try readString()
    }

    public mutating func bytes(_ wireType: WireType, field: String) throws -> Data {
        try expect(wireType, .lengthDelimited, field: field)
        return try readLengthDelimited()
    }

    public mutating func int64(_ wireType: WireType, field: String) throws -> Int64 {
        try expect(wireType, .varint, field: field)
        return try readInt64()
    }

    public mutating func int32(_ wireType: WireType, field: String) throws -> Int32 {
        try expect(wireType, .varint, field: field)
        return try readInt32()
    }

    public mutating func float(_ wireType: WireType, field: String) throws -> Float {
        try expect(wireType, .fixed32, field: field)
        return try readFloat()
    }

    /// An embedded message field; `name` (default: the field's) labels it in error messages.
    public mutating func message(_ wireType: WireType, field: String, name: String? = nil) throws -> ProtobufReader {
        try expect(wireType, .lengthDelimited, field: field)
        return try readMessage(name ?? field)
    }

    /// Checks that a field has the wire type its schema gives it.
    public func expect(_ wireType: WireType, _ expected: WireType, field: String) throws {
        guard wireType == expected else {
            throw ProtobufError("\(context).\(field): expected wire type \(expected.rawValue), found \(wireType.rawValue)")
        }
    }

    private mutating func take(_ count: Int, what: String) throws -> Data {
        guard count >= 0, count <= end - position else {
            throw ProtobufError("\(context): \(what) of \(count) bytes runs past the end of the data")
        }
        let slice = bytes[position ..< position + count]
        position += count
        return slice
    }
}
