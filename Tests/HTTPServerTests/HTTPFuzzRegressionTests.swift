import Foundation
import HTTPServer
import XCTest

/// Inputs found by the fuzz targets in Fuzz/ (see Fuzz/README.md), kept as regressions.
final class HTTPFuzzRegressionTests: XCTestCase {
    private static let regressions = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz-regressions")

    /// fuzz-multipart's input layout: the Content-Type, a newline, then the body.
    private func fuzzInput(_ name: String) throws -> (contentType: String, body: Data) {
        let input = try Data(contentsOf: Self.regressions.appendingPathComponent(name))
        let newline = try XCTUnwrap(input.firstIndex(of: UInt8(ascii: "\n")))
        return (String(decoding: input[..<newline], as: UTF8.self), Data(input[(newline + 1)...]))
    }

    private func assertBadRequest(_ parse: @autoclosure () throws -> FormData?, message: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(), file: file, line: line) { error in
            XCTAssertEqual(error as? HTTPError, HTTPError.badRequest(message), file: file, line: line)
        }
    }

    /// fuzz-multipart, crash-45c0334d: a url-encoded body of 65 fields came out as 65 parts
    /// although the harness allowed 64; url-encoded forms had no field limit at all.
    func testURLEncodedBodyOverThePartLimitIsRefused() throws {
        let input = try fuzzInput("multipart-urlencoded-65-fields.bin")
        XCTAssertEqual(input.contentType, "application/x-www-form-urlencoded")
        var limits = HTTPLimits()
        limits.maxMultipartParts = 64
        assertBadRequest(try FormData.parse(body: input.body, contentType: input.contentType, limits: limits),
                         message: "url-encoded form body has more than 64 fields")
        limits.maxMultipartParts = 65
        XCTAssertEqual(try FormData.parse(body: input.body, contentType: input.contentType, limits: limits)?.parts.count, 65)
    }

    /// The default limit: 1000 fields parse, 1001 are refused before any field is decoded.
    func testURLEncodedFieldLimitAtTheDefault() throws {
        let type = "application/x-www-form-urlencoded"
        let thousand = Data((0..<1000).map { "f\($0)=\($0)" }.joined(separator: "&").utf8)
        XCTAssertEqual(try FormData.parse(body: thousand, contentType: type)?.parts.count, 1000)
        // Empty pieces ("&&") are not fields, as in formPairs.
        let padded = Data(("&&" + (0..<1000).map { "f\($0)" }.joined(separator: "&&") + "&").utf8)
        XCTAssertEqual(try FormData.parse(body: padded, contentType: type)?.parts.count, 1000)
        let tooMany = Data((String(repeating: "a&", count: 1000) + "a").utf8)
        assertBadRequest(try FormData.parse(body: tooMany, contentType: type),
                         message: "url-encoded form body has more than 1000 fields")
    }
}
