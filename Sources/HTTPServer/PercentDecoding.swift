import Foundation

/// Percent-decoding of request targets and `application/x-www-form-urlencoded` text.
enum PercentDecoding {
    /// Decodes `%XX` escapes (and `+` as space when `plusIsSpace`); the result must be UTF-8.
    /// Returns nil for a malformed escape or bytes that are not UTF-8.
    static func decode<S: Collection>(_ bytes: S, plusIsSpace: Bool) -> String? where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let first = bytes.index(after: index)
                guard first != bytes.endIndex else { return nil }
                let second = bytes.index(after: first)
                guard second != bytes.endIndex,
                      let high = hexValue(bytes[first]), let low = hexValue(bytes[second]) else { return nil }
                out.append(high << 4 | low)
                index = bytes.index(after: second)
                continue
            }
            out.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index = bytes.index(after: index)
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Splits `a=1&b=x+y` into decoded (name, value) pairs; pairs without `=` get an empty value.
    static func formPairs(_ text: Substring) -> [(String, String)]? {
        var pairs: [(String, String)] = []
        for piece in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = piece.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0], plusIsSpace: true) else { return nil }
            let value = parts.count > 1 ? decode(parts[1], plusIsSpace: true) : ""
            guard let value else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }

    /// The number of pairs `formPairs` would return, counted without decoding or allocating.
    static func formFieldCount<S: Sequence>(_ bytes: S) -> Int where S.Element == UInt8 {
        var count = 0
        var inField = false
        for byte in bytes {
            if byte == UInt8(ascii: "&") {
                inField = false
            } else if !inField {
                inField = true
                count += 1
            }
        }
        return count
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
