#!/usr/bin/env python3
"""Writes Seer's bad-input corpus: cases.json, raw/*.http and bodies/*.

Run from anywhere: `python3 Tests/Fixtures/bad-inputs/make-cases.py`. Standard library only,
deterministic (fixed seeds, no timestamps): running it twice gives the same bytes.
Damaged media are cut or bit-flipped from the repository's real fixtures
(Tests/Fixtures/media, Tests/Fixtures/video); ONNX files are encoded here by hand
(protobuf wire format), so no onnx package is needed.

A case is either
- raw: `raw/<id>.http`, sent byte for byte over a socket (malformed HTTP), or
- structured: method, path, headers and an optional body file; the test frames it as
  HTTP/1.1 with Host, X-Request-Id: bad-<id>, Content-Length and Connection: close.
`client` says what the client does after sending: "wait" (read the answer; default),
"half-close" (shut down its sending side: the server sees the client go, answers nobody
and logs 499). `expect` is the status and contract error code (null for a success).
"""
import json
import os
import random
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
MEDIA = os.path.join(ROOT, "Tests", "Fixtures", "media")
VIDEO = os.path.join(ROOT, "Tests", "Fixtures", "video")

# The limits the test configures (HTTPLimits defaults, shorter timeouts).
MAX_BODY = 64 * 1024 * 1024
MAX_REQUEST_LINE = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_COUNT = 100
MAX_PIXELS = 50_000_000

BOUNDARY = "seer-bad-inputs-7d3f"
REGISTERED = "bad-relu"  # the one model the corpus registers successfully (v2 cases use it)

cases = []
files = {}  # relative path -> bytes


def read(*parts):
    with open(os.path.join(*parts), "rb") as handle:
        return handle.read()


def body_file(name, data):
    path = "bodies/" + name
    assert path not in files or files[path] == data, path
    files[path] = data
    return path


def error(status, code):
    return {"status": status, "code": code}


def success(status=200):
    return {"status": status, "code": None}


def raw(case_id, category, data, expect, note, client="wait"):
    path = "raw/%s.http" % case_id
    files[path] = data
    case = {"id": case_id, "category": category, "raw": path, "expect": expect, "note": note}
    if client != "wait":
        case["client"] = client
    cases.append(case)


def request(case_id, category, method, path, expect, note, body=None, headers=None):
    case = {"id": case_id, "category": category, "method": method, "path": path,
            "headers": headers or {}, "expect": expect, "note": note}
    if body is not None:
        case["body"] = body
    cases.append(case)


def http(lines, body=b""):
    """A request from header lines (str), CRLF-terminated, then the body."""
    return "".join(line + "\r\n" for line in lines).encode("latin-1") + b"\r\n" + body


def rid(case_id):
    return "X-Request-Id: bad-" + case_id


# MARK: - Malformed HTTP (raw bytes)

def malformed_http():
    c = "malformed-http"
    raw("request-line-method-only", c, b"GET\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "request line without target and version")
    raw("request-line-four-parts", c, b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "a fourth word in the request line")
    raw("request-line-space-in-target", c, b"GET /heal thz HTTP/1.1\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "an unencoded space in the target")
    raw("request-line-double-space", c, b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "two spaces: an empty target")
    raw("method-invalid-character", c, b"GE(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "a method with a non-token character")
    raw("method-unknown", c, http(["BREW /healthz HTTP/1.1", "Host: x", rid("method-unknown")]),
        error(405, "method_not_allowed"), "a well-formed but unknown method on a known route")
    raw("version-garbage", c, b"GET /healthz HTTX/1.1\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "not an HTTP version")
    raw("version-unsupported", c, b"GET /healthz HTTP/1.7\r\nHost: x\r\n\r\n", error(505, "http_version_not_supported"),
        "an HTTP version the server does not speak")
    raw("http2-preface", c, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", error(505, "http_version_not_supported"),
        "the HTTP/2 connection preface sent to an HTTP/1.1 server")
    raw("bare-lf-line-endings", c, b"GET /healthz HTTP/1.1\nHost: x\n" + rid("bare-lf-line-endings").encode() + b"\n\n",
        success(), "LF-only line endings: RFC 9112 lets a server accept them, and Seer does")
    raw("bare-cr-in-header", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("bare-cr-in-header"), "X-Note: a\rb"]),
        error(400, "bad_request"), "a CR that does not end a line (request smuggling vector)")
    raw("nul-in-target", c, b"GET /healthz\x00 HTTP/1.1\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "a NUL byte in the request target")
    raw("nul-in-header-value", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("nul-in-header-value"), "X-Note: a\x00b"]),
        error(400, "bad_request"), "a NUL byte in a header value")
    raw("nul-in-header-name", c, http(["GET /healthz HTTP/1.1", "Host: x", "X-No\x00te: a"]),
        error(400, "bad_request"), "a NUL byte in a header name")
    raw("non-ascii-in-target", c, b"GET /h\xc3\xa9althz HTTP/1.1\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "raw UTF-8 bytes in the target (must be percent-encoded)")
    raw("invalid-utf8-in-target", c, b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", error(400, "bad_request"),
        "invalid UTF-8 bytes in the target")
    raw("bad-percent-escape", c, http(["GET /models/%zz HTTP/1.1", "Host: x", rid("bad-percent-escape")]),
        error(400, "bad_request"), "a malformed percent-escape in the path")
    raw("percent-encoded-invalid-utf8", c, http(["GET /models/%ff%fe HTTP/1.1", "Host: x", rid("percent-encoded-invalid-utf8")]),
        error(400, "bad_request"), "a percent-escape that decodes to invalid UTF-8")
    raw("uri-too-long", c, ("GET /" + "a" * (MAX_REQUEST_LINE + 100) + " HTTP/1.1\r\nHost: x\r\n\r\n").encode(),
        error(414, "uri_too_long"), "a request line over the 8 KiB limit")
    raw("header-block-too-large", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("header-block-too-large"),
                                           "X-Big: " + "b" * (MAX_HEADER_BYTES + 10)]),
        error(431, "headers_too_large"), "one header line larger than the 16 KiB header block limit")
    raw("too-many-headers", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("too-many-headers")]
                                    + ["X-H%d: v" % index for index in range(MAX_HEADER_COUNT + 1)]),
        error(431, "headers_too_large"), "more header fields than the limit of 100")
    raw("header-without-colon", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("header-without-colon"), "X-No-Colon"]),
        error(400, "bad_request"), "a header line without ':'")
    raw("header-space-before-colon", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("header-space-before-colon"), "X-Note : a"]),
        error(400, "bad_request"), "whitespace between field name and colon (RFC 9112 §5.1: must be rejected)")
    raw("header-empty-name", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("header-empty-name"), ": value"]),
        error(400, "bad_request"), "a header with an empty name")
    raw("obsolete-line-folding", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("obsolete-line-folding"), "X-Note: a", " folded"]),
        error(400, "bad_request"), "obs-fold continuation line")
    raw("missing-host", c, http(["GET /healthz HTTP/1.1", rid("missing-host")]), error(400, "bad_request"),
        "HTTP/1.1 without Host")
    raw("duplicate-host", c, http(["GET /healthz HTTP/1.1", "Host: x", "Host: y", rid("duplicate-host")]),
        error(400, "bad_request"), "two Host headers")
    raw("header-value-del-byte", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("header-value-del-byte"), "X-Note: a\x7fb"]),
        error(400, "bad_request"), "a DEL control byte in a header value")
    raw("invalid-utf8-request-id", c, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: \xff\xfe\xfd\r\n\r\n",
        success(), "a request id that is not printable ASCII is replaced by a generated one")
    raw("tls-client-hello", c, bytes([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03])
        + bytes(range(32)) + b"\x00\x00\x20" + bytes(range(0xc0, 0xe0)) + b"\x01\x00" + b"\r\n",
        error(400, "bad_request"), "a TLS ClientHello sent to the plain-HTTP port (ends in CRLF here so the line completes)")
    raw("slowloris-unfinished-headers", c, http(["GET /healthz HTTP/1.1", "Host: x", rid("slowloris-unfinished-headers")])[:-2]
        + b"X-Slow: still typing", error(408, "request_timeout"),
        "headers that never end: answered at the header read timeout")


# MARK: - Body framing and size (raw bytes)

def body_framing():
    c = "body-framing"
    jpeg = b"\xff\xd8\xff\xe0" + b"j" * 12
    raw("content-length-not-a-number", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-not-a-number"),
                                                "Content-Type: image/jpeg", "Content-Length: abc"]) + jpeg,
        error(400, "bad_request"), "Content-Length that is not a number")
    raw("content-length-negative", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-negative"),
                                            "Content-Type: image/jpeg", "Content-Length: -16"]) + jpeg,
        error(400, "bad_request"), "a negative Content-Length")
    raw("content-length-plus-sign", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-plus-sign"),
                                             "Content-Type: image/jpeg", "Content-Length: +16"]) + jpeg,
        error(400, "bad_request"), "Content-Length with a sign")
    raw("content-length-conflicting-headers", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-conflicting-headers"),
                                                       "Content-Type: image/jpeg", "Content-Length: 16", "Content-Length: 4"]) + jpeg,
        error(400, "bad_request"), "two Content-Length headers that disagree (request smuggling vector)")
    raw("content-length-conflicting-list", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-conflicting-list"),
                                                    "Content-Type: image/jpeg", "Content-Length: 16, 4"]) + jpeg,
        error(400, "bad_request"), "one Content-Length listing two values")
    raw("content-length-duplicate-equal", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-duplicate-equal"),
                                                   "Content-Type: image/jpeg", "Content-Length: 16", "Content-Length: 16"]) + jpeg,
        error(400, "invalid_image"), "two equal Content-Length headers are one length (RFC 9110 §8.6); the body is no JPEG")
    raw("content-length-and-chunked", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-and-chunked"),
                                               "Content-Type: image/jpeg", "Content-Length: 16",
                                               "Transfer-Encoding: chunked"]) + b"10\r\n" + jpeg + b"\r\n0\r\n\r\n",
        error(400, "bad_request"), "both Content-Length and Transfer-Encoding (request smuggling vector)")
    raw("content-length-over-limit", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-over-limit"),
                                              "Content-Type: image/jpeg", "Content-Length: %d" % (MAX_BODY + 1)]) + jpeg,
        error(413, "payload_too_large"), "a Content-Length one byte over the 64 MiB limit; only 16 bytes follow")
    raw("content-length-huge", c, http(["POST /detect HTTP/1.1", "Host: x", rid("content-length-huge"),
                                        "Content-Type: image/jpeg", "Content-Length: 99999999999999999999999999"]) + jpeg,
        error(413, "payload_too_large"), "a Content-Length that overflows 64 bits")
    raw("content-length-over-limit-expect-continue", c, http(["POST /detect HTTP/1.1", "Host: x",
                                                              rid("content-length-over-limit-expect-continue"),
                                                              "Content-Type: image/jpeg", "Expect: 100-continue",
                                                              "Content-Length: %d" % (4 * MAX_BODY)]),
        error(413, "payload_too_large"), "curl-style 100-continue upload of 256 MiB: refused before the body is sent")
    raw("length-required", c, http(["POST /detect HTTP/1.1", "Host: x", rid("length-required"), "Content-Type: image/jpeg"]),
        error(411, "length_required"), "a POST with a Content-Type but no length or chunking")
    raw("expect-unknown", c, http(["POST /detect HTTP/1.1", "Host: x", rid("expect-unknown"), "Content-Type: image/jpeg",
                                   "Expect: 200-ok", "Content-Length: 16"]) + jpeg,
        error(417, "expectation_failed"), "an Expect value other than 100-continue")
    raw("transfer-encoding-gzip-chunked", c, http(["POST /detect HTTP/1.1", "Host: x", rid("transfer-encoding-gzip-chunked"),
                                                   "Content-Type: image/jpeg", "Transfer-Encoding: gzip, chunked"])
        + b"10\r\n" + jpeg + b"\r\n0\r\n\r\n", error(501, "not_implemented"), "a transfer coding other than chunked")
    raw("transfer-encoding-not-chunked-last", c, http(["POST /detect HTTP/1.1", "Host: x", rid("transfer-encoding-not-chunked-last"),
                                                       "Content-Type: image/jpeg", "Transfer-Encoding: chunked, identity"])
        + b"10\r\n" + jpeg + b"\r\n0\r\n\r\n", error(400, "bad_request"), "Transfer-Encoding whose last coding is not chunked")
    raw("transfer-encoding-in-http10", c, http(["POST /detect HTTP/1.0", "Host: x", rid("transfer-encoding-in-http10"),
                                                "Content-Type: image/jpeg", "Transfer-Encoding: chunked"])
        + b"10\r\n" + jpeg + b"\r\n0\r\n\r\n", error(400, "bad_request"), "chunked framing in an HTTP/1.0 request")
    chunked = ["POST /detect HTTP/1.1", "Host: x", "Content-Type: image/jpeg", "Transfer-Encoding: chunked"]
    raw("chunk-size-not-hex", c, http(chunked + [rid("chunk-size-not-hex")]) + b"zz\r\n" + jpeg + b"\r\n0\r\n\r\n",
        error(400, "bad_request"), "a chunk size that is not hexadecimal")
    raw("chunk-size-negative", c, http(chunked + [rid("chunk-size-negative")]) + b"-10\r\n" + jpeg + b"\r\n0\r\n\r\n",
        error(400, "bad_request"), "a negative chunk size")
    raw("chunk-data-overruns-size", c, http(chunked + [rid("chunk-data-overruns-size")]) + b"4\r\n" + jpeg + b"\r\n0\r\n\r\n",
        error(400, "bad_request"), "16 bytes of data after a chunk size of 4")
    raw("chunk-size-overflow", c, http(chunked + [rid("chunk-size-overflow")]) + b"fffffffffffffffffff\r\n" + jpeg,
        error(413, "payload_too_large"), "a chunk size that overflows 64 bits")
    raw("chunk-size-over-limit", c, http(chunked + [rid("chunk-size-over-limit")]) + b"%x\r\n" % (MAX_BODY + 1) + jpeg,
        error(413, "payload_too_large"), "one chunk declared one byte over the body limit")
    raw("chunk-extension-control-byte", c, http(chunked + [rid("chunk-extension-control-byte")]) + b"10;x=\x01\r\n" + jpeg + b"\r\n0\r\n\r\n",
        error(400, "bad_request"), "a control byte in a chunk extension")
    raw("chunk-line-too-long", c, http(chunked + [rid("chunk-line-too-long")]) + b"10;" + b"e" * 5000 + b"\r\n" + jpeg,
        error(400, "bad_request"), "a chunk-size line over 4 KiB of extensions")
    raw("chunk-bare-lf-then-garbage", c, http(chunked + [rid("chunk-bare-lf-then-garbage")]) + b"10\n" + jpeg + b"XY0\r\n\r\n",
        error(400, "bad_request"), "chunk data followed by garbage instead of its CRLF")
    raw("chunked-trailer-too-large", c, http(chunked + [rid("chunked-trailer-too-large")]) + b"10\r\n" + jpeg + b"\r\n0\r\n"
        + b"X-Trailer: " + b"t" * (MAX_HEADER_BYTES + 10) + b"\r\n\r\n", error(431, "headers_too_large"),
        "a trailer block over the header size limit")
    raw("chunked-body-truncated-open", c, http(chunked + [rid("chunked-body-truncated-open")]) + b"400\r\n" + jpeg,
        error(408, "request_timeout"), "a chunk declared 1024 bytes, 16 sent, connection left open: body read timeout")
    raw("body-truncated-open", c, http(["POST /detect HTTP/1.1", "Host: x", rid("body-truncated-open"),
                                        "Content-Type: image/jpeg", "Content-Length: 5000"]) + jpeg,
        error(408, "request_timeout"), "5000 bytes declared, 16 sent, connection left open: body read timeout")
    raw("body-truncated-half-close", c, http(["POST /detect HTTP/1.1", "Host: x", rid("body-truncated-half-close"),
                                              "Content-Type: image/jpeg", "Content-Length: 5000"]) + jpeg,
        {"status": 499, "code": "client_closed_request"},
        "5000 bytes declared, 16 sent, then the client stops sending: nobody to answer, logged as 499",
        client="half-close")
    raw("headers-truncated-half-close", c, http(["POST /detect HTTP/1.1", "Host: x", rid("headers-truncated-half-close")])[:-2]
        + b"Content-Ty", {"status": 499, "code": "client_closed_request"},
        "the client stops sending in the middle of a header line: logged as 499", client="half-close")
    raw("unknown-route-with-body", c, http(["POST /no-such-route HTTP/1.1", "Host: x", rid("unknown-route-with-body"),
                                            "Content-Type: image/jpeg", "Expect: 100-continue", "Content-Length: 1000000"]),
        error(404, "not_found"), "an upload to an unknown route is refused before its body (no 100 Continue)")


# MARK: - Images

def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_claiming(width, height, color_type=2):
    """A tiny PNG whose IHDR claims width x height (a decompression-bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_segments(data):
    """(marker, offset, length) of the segments before the first scan."""
    segments, offset = [], 2
    while offset < len(data):
        marker = data[offset + 1]
        length = struct.unpack(">H", data[offset + 2:offset + 4])[0]
        segments.append((marker, offset, length))
        if marker == 0xDA:
            break
        offset += 2 + length
    return segments


def jpeg_claiming(jpeg, width, height):
    """The JPEG with its SOF0 frame header patched to width x height."""
    data = bytearray(jpeg)
    for marker, offset, _ in jpeg_segments(jpeg):
        if marker == 0xC0:
            struct.pack_into(">HH", data, offset + 5, height, width)
            return bytes(data)
    raise ValueError("no SOF0")


def flip_bits(data, positions):
    out = bytearray(data)
    for position in positions:
        out[position // 8] ^= 0x80 >> (position % 8)
    return bytes(out)


def png_chunks(data):
    chunks, offset = [], 8
    while offset < len(data):
        length = struct.unpack(">I", data[offset:offset + 4])[0]
        chunks.append((data[offset + 4:offset + 8], offset, length))
        offset += 12 + length
    return chunks


def multipart(parts, boundary=BOUNDARY, close=True):
    """parts: (name or None, filename or None, content type or None, bytes)."""
    out = b""
    for name, filename, content_type, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        if name is not None:
            disposition = 'Content-Disposition: form-data; name="%s"' % name
            if filename:
                disposition += '; filename="%s"' % filename
            out += disposition.encode() + b"\r\n"
        if content_type:
            out += b"Content-Type: " + content_type.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    if close:
        out += b"--" + boundary.encode() + b"--\r\n"
    return out


FORM = {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY}


def images():
    c = "image"
    jpeg = read(MEDIA, "orientation_1.jpg")  # 96x64 baseline JPEG (Grace Hopper), 5 KB
    png = read(MEDIA, "gray.png")           # 64x43 8-bit gray PNG
    octet = {"Content-Type": "application/octet-stream"}
    as_jpeg = {"Content-Type": "image/jpeg"}
    as_png = {"Content-Type": "image/png"}

    # Bombs: headers that claim more pixels than the 50 MP limit, refused before allocation.
    bombs = [("png-bomb-100k-square", png_claiming(100_000, 100_000), "/detect", "PNG header claiming 100000x100000 (10 GP)"),
             ("png-bomb-1m-square", png_claiming(1_000_000, 1_000_000), "/faces", "PNG header claiming 1000000x1000000 (1 TP)"),
             ("png-bomb-max-dims", png_claiming(0x7FFFFFFF, 0x7FFFFFFF, 6), "/segment",
              "PNG header claiming 2^31-1 x 2^31-1 RGBA, the format's maximum"),
             ("png-bomb-tall-strip", png_claiming(1, 60_000_000, 0), "/detect",
              "PNG header claiming 1x60000000 gray: 60 MP in one column"),
             ("png-bomb-wide-strip", png_claiming(60_000_000, 1, 0), "/v1/vision/detection",
              "PNG header claiming 60000000x1 gray: 60 MP in one row"),
             ("jpeg-bomb-65500-square", jpeg_claiming(jpeg, 65500, 65500), "/detect",
              "JPEG frame header claiming 65500x65500 (4.3 GP), libjpeg's largest"),
             ("jpeg-bomb-65535-square", jpeg_claiming(jpeg, 65535, 65535), "/faces",
              "JPEG frame header claiming 65535x65535, the format's maximum (beyond libjpeg's 65500)"),
             ("jpeg-bomb-wide", jpeg_claiming(jpeg, 65500, 800), "/age", "JPEG frame header claiming 65500x800 (52 MP)")]
    for case_id, data, path, note in bombs:
        request(case_id, "image-bomb", "POST", path, error(422, "image_too_large"), note,
                body=body_file(case_id + (".png" if data.startswith(b"\x89PNG") else ".jpg"), data), headers=octet)
    request("png-zero-width", c, "POST", "/detect", error(400, "invalid_image"), "PNG header with width 0",
            body=body_file("png-zero-width.png", png_claiming(0, 64)), headers=as_png)
    request("jpeg-zero-height", c, "POST", "/detect", error(400, "invalid_image"), "JPEG frame header with height 0",
            body=body_file("jpeg-zero-height.jpg", jpeg_claiming(jpeg, 96, 0)), headers=as_jpeg)

    # Truncated real files.
    for fraction in (10, 50, 90):
        cut = jpeg[:len(jpeg) * fraction // 100]
        request("jpeg-truncated-%d" % fraction, c, "POST", "/detect", error(400, "invalid_image"),
                "orientation_1.jpg cut to its first %d%%" % fraction,
                body=body_file("jpeg-truncated-%d.jpg" % fraction, cut), headers=as_jpeg)
    request("jpeg-soi-only", c, "POST", "/faces", error(400, "invalid_image"), "just the JPEG start marker FF D8 FF",
            body=body_file("jpeg-soi-only.jpg", jpeg[:3]), headers=as_jpeg)
    request("jpeg-no-eoi", c, "POST", "/segment", error(400, "invalid_image"),
            "orientation_1.jpg without its last 64 bytes (end of scan and EOI)",
            body=body_file("jpeg-no-eoi.jpg", jpeg[:-64]), headers=as_jpeg)
    chunks = png_chunks(png)
    idat = next(offset for kind, offset, _ in chunks if kind == b"IDAT")
    request("png-signature-only", c, "POST", "/detect", error(400, "invalid_image"), "the 8-byte PNG signature alone",
            body=body_file("png-signature-only.png", png[:8]), headers=as_png)
    request("png-header-only", c, "POST", "/detect", error(400, "invalid_image"), "gray.png cut after IHDR",
            body=body_file("png-header-only.png", png[:33]), headers=as_png)
    request("png-truncated-mid-idat", c, "POST", "/faces", error(400, "invalid_image"),
            "gray.png cut in the middle of its image data",
            body=body_file("png-truncated-mid-idat.png", png[:idat + (len(png) - idat) // 2]), headers=as_png)
    request("png-no-iend", c, "POST", "/segment", error(400, "invalid_image"),
            "gray.png without IEND and the end of its image data",
            body=body_file("png-no-iend.png", png[:-20]), headers=as_png)

    # Bit flips: header damage is an error; entropy-coded data damage decodes (libjpeg only warns).
    segments = {marker: (offset, length) for marker, offset, length in jpeg_segments(jpeg)}
    sof, _ = segments[0xC0]
    dht, _ = segments[0xC4]
    sos, sos_length = segments[0xDA]
    request("jpeg-flip-sof-marker", c, "POST", "/detect", error(400, "invalid_image"),
            "one bit flipped in the SOF0 marker (FF C0 -> FF 40)",
            body=body_file("jpeg-flip-sof-marker.jpg", flip_bits(jpeg, [(sof + 1) * 8])), headers=as_jpeg)
    request("jpeg-flip-sof-components", c, "POST", "/detect", error(400, "invalid_image"),
            "the frame header's component count 3 -> 7",
            body=body_file("jpeg-flip-sof-components.jpg", flip_bits(jpeg, [(sof + 9) * 8 + 5])), headers=as_jpeg)
    request("jpeg-flip-huffman-counts", c, "POST", "/detect", error(400, "invalid_image"),
            "the first Huffman table's code counts made impossible",
            body=body_file("jpeg-flip-huffman-counts.jpg", flip_bits(jpeg, [(dht + 6) * 8, (dht + 7) * 8])), headers=as_jpeg)
    request("jpeg-flip-sos-length", c, "POST", "/detect", error(400, "invalid_image"),
            "the scan header's length field corrupted",
            body=body_file("jpeg-flip-sos-length.jpg", flip_bits(jpeg, [(sos + 2) * 8 + 1])), headers=as_jpeg)
    scan = sos + 2 + sos_length
    rng = random.Random(1234)
    entropy = range(scan * 8 + 64, (len(jpeg) - 8) * 8)
    request("jpeg-flip-entropy-marker", c, "POST", "/detect", error(400, "invalid_image"),
            "24 random bit flips in the entropy-coded scan; one makes FF 10, a marker libjpeg does not know",
            body=body_file("jpeg-flip-entropy-marker.jpg", flip_bits(jpeg, sorted(rng.sample(entropy, 24)))), headers=as_jpeg)

    def harmless(position):
        """A flip that neither makes nor breaks an FF byte (so no marker appears or vanishes)."""
        index, flipped = position // 8, jpeg[position // 8] ^ (0x80 >> (position % 8))
        return 0xFF not in (jpeg[index], flipped, jpeg[index - 1])
    flips = sorted(rng.sample([position for position in entropy if harmless(position)], 24))
    request("jpeg-flip-entropy-data", c, "POST", "/detect", success(),
            "24 bit flips in the entropy-coded scan that make no marker: libjpeg decodes with artefacts and only warns",
            body=body_file("jpeg-flip-entropy-data.jpg", flip_bits(jpeg, flips)), headers=as_jpeg)
    ihdr_offset = next(offset for kind, offset, _ in chunks if kind == b"IHDR")
    request("png-flip-ihdr", c, "POST", "/detect", error(400, "invalid_image"), "one bit flipped in IHDR (CRC mismatch)",
            body=body_file("png-flip-ihdr.png", flip_bits(png, [(ihdr_offset + 8 + 3) * 8 + 7])), headers=as_png)
    request("png-flip-idat", c, "POST", "/detect", error(400, "invalid_image"), "bit flips in IDAT (CRC mismatch)",
            body=body_file("png-flip-idat.png", flip_bits(png, [(idat + 8 + 40) * 8 + 3, (idat + 8 + 41) * 8])), headers=as_png)
    damaged = bytearray(png)
    idat_length = struct.unpack(">I", png[idat:idat + 4])[0]
    for index in range(idat + 8 + 2, idat + 8 + 34):  # zlib stream body, after its 2-byte header
        damaged[index] ^= 0x55
    struct.pack_into(">I", damaged, idat + 8 + idat_length, zlib.crc32(bytes(damaged[idat + 4:idat + 8 + idat_length])) & 0xFFFFFFFF)
    request("png-corrupt-zlib-valid-crc", c, "POST", "/detect", error(400, "invalid_image"),
            "32 bytes of the IDAT zlib stream scrambled, CRC recomputed: the inflate itself fails",
            body=body_file("png-corrupt-zlib-valid-crc.png", bytes(damaged)), headers=as_png)

    # Not images at all.
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" + b"% padding\n" * 20 + b"%%EOF\n"
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    not_images = [("pdf", pdf, "application/pdf", "/detect", error(400, "invalid_image"), "a PDF document"),
                  ("text", b"hello, this is not an image\n" * 8, "text/plain", "/faces", error(400, "invalid_image"), "plain text"),
                  ("elf", elf + b"\x00" * 64, "application/octet-stream", "/segment", error(400, "invalid_image"), "an ELF executable header"),
                  ("zeros", b"\x00" * 4096, "application/octet-stream", "/detect", error(400, "invalid_image"), "4096 zero bytes"),
                  ("single-byte", b"\xff", "image/jpeg", "/detect", error(400, "invalid_image"), "one 0xFF byte"),
                  ("html", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>", "text/html", "/age",
                   error(400, "invalid_image"), "HTML"),
                  ("gif", read(MEDIA, "sample.gif"), "image/gif", "/detect", error(415, "unsupported_media_type"), "a GIF (recognised, not decoded)"),
                  ("webp", read(MEDIA, "sample.webp"), "image/webp", "/faces", error(415, "unsupported_media_type"), "a WebP (recognised, not decoded)"),
                  ("bmp-header", b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + b"\x00" * 62, "image/bmp", "/detect",
                   error(415, "unsupported_media_type"), "a BMP header"),
                  ("heic-header", struct.pack(">I", 24) + b"ftypheic" + b"\x00" * 12, "image/heic", "/detect",
                   error(415, "unsupported_media_type"), "a HEIC ftyp box")]
    for name, data, content_type, path, expect, note in not_images:
        extension = {"application/pdf": "pdf", "text/plain": "txt", "text/html": "html", "image/gif": "gif",
                     "image/webp": "webp", "image/bmp": "bmp", "image/heic": "heic", "image/jpeg": "jpg"}.get(content_type, "bin")
        request("not-image-" + name, "not-an-image", "POST", path, expect, note,
                body=body_file("not-image-%s.%s" % (name, extension), data), headers={"Content-Type": content_type})
    request("empty-body", "not-an-image", "POST", "/detect", error(400, "bad_request"), "an empty body (Content-Length: 0)",
            body=body_file("empty", b""), headers=as_jpeg)

    # Broken multipart.
    m = "multipart"
    request("multipart-missing-boundary", m, "POST", "/detect", error(400, "bad_request"),
            "multipart/form-data without a boundary parameter",
            body=body_file("multipart-image.txt", multipart([("image", "photo.jpg", "image/jpeg", jpeg)])),
            headers={"Content-Type": "multipart/form-data"})
    request("multipart-wrong-boundary", m, "POST", "/detect", error(400, "bad_request"),
            "the body's boundary differs from the Content-Type's",
            body="bodies/multipart-image.txt", headers={"Content-Type": "multipart/form-data; boundary=not-the-one"})
    request("multipart-boundary-too-long", m, "POST", "/detect", error(400, "bad_request"),
            "a 300-character boundary (RFC 2046 allows 70)",
            body=body_file("multipart-long-boundary.txt", multipart([("image", "photo.jpg", "image/jpeg", jpeg)], boundary="b" * 300)),
            headers={"Content-Type": "multipart/form-data; boundary=" + "b" * 300})
    request("multipart-unterminated", m, "POST", "/detect", error(400, "bad_request"),
            "the closing boundary is missing",
            body=body_file("multipart-unterminated.txt", multipart([("image", "photo.jpg", "image/jpeg", jpeg)], close=False)),
            headers=FORM)
    request("multipart-cut-in-part", m, "POST", "/faces", error(400, "bad_request"),
            "the body stops inside the image part",
            body=body_file("multipart-cut-in-part.txt", multipart([("image", "photo.jpg", "image/jpeg", jpeg)])[:1500]),
            headers=FORM)
    request("multipart-no-image-field", m, "POST", "/detect", error(400, "bad_request"),
            "a form with only a min_confidence field",
            body=body_file("multipart-no-image-field.txt", multipart([("min_confidence", None, None, b"0.5")])), headers=FORM)
    request("multipart-wrong-field-name", m, "POST", "/detect", error(400, "bad_request"),
            "the image sent as field 'photo' (only 'image' and 'file' count)",
            body=body_file("multipart-wrong-field-name.txt", multipart([("photo", "photo.jpg", "image/jpeg", jpeg)])), headers=FORM)
    request("multipart-empty-image", m, "POST", "/detect", error(400, "bad_request"), "an 'image' part with no bytes",
            body=body_file("multipart-empty-image.txt", multipart([("image", "photo.jpg", "image/jpeg", b"")])), headers=FORM)
    request("multipart-part-without-disposition", m, "POST", "/detect", error(400, "bad_request"),
            "a part with no Content-Disposition header",
            body=body_file("multipart-no-disposition.txt", multipart([(None, None, "image/jpeg", jpeg)])), headers=FORM)
    request("multipart-garbage-image", m, "POST", "/detect", error(400, "invalid_image"),
            "a well-formed form whose image is text",
            body=body_file("multipart-garbage-image.txt", multipart([("image", "photo.jpg", "image/jpeg", b"not a jpeg at all")])),
            headers=FORM)
    request("multipart-too-many-parts", m, "POST", "/detect", error(400, "bad_request"), "1001 parts (limit 1000)",
            body=body_file("multipart-too-many-parts.txt", multipart([("f%d" % index, None, None, b"x") for index in range(1001)])),
            headers=FORM)
    request("multipart-bad-min-confidence-field", m, "POST", "/detect", error(400, "invalid_parameter"),
            "min_confidence=2 as a form field",
            body=body_file("multipart-bad-min-confidence.txt",
                           multipart([("min_confidence", None, None, b"2"), ("image", "photo.jpg", "image/jpeg", jpeg)])),
            headers=FORM)
    request("multipart-empty-boundary", m, "POST", "/detect", error(400, "bad_request"), 'boundary=""',
            body="bodies/multipart-image.txt", headers={"Content-Type": 'multipart/form-data; boundary=""'})
    request("multipart-part-headers-too-large", m, "POST", "/detect", error(431, "headers_too_large"),
            "a part whose header block is over the 16 KiB header limit",
            body=body_file("multipart-part-headers-too-large.txt",
                           multipart([("image", "photo.jpg", "image/jpeg; x=" + "p" * (MAX_HEADER_BYTES + 10), jpeg)])),
            headers=FORM)
    request("multipart-hostile-filename", m, "POST", "/faces", success(),
            "a valid photo whose filename climbs to /etc/passwd: the name is never used as a path",
            body=body_file("multipart-hostile-filename.txt", multipart([("image", "../../../../etc/passwd", "image/jpeg", jpeg)])),
            headers=FORM)
    request("urlencoded-form", m, "POST", "/detect", error(400, "invalid_image"),
            "an url-encoded form: its fields are parameters, and the body is the upload (curl labels raw uploads so)",
            body=body_file("urlencoded.txt", b"image=not-an-upload&min_confidence=0.5"),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    return jpeg


# MARK: - Parameters and routes

def parameters(jpeg_path):
    c = "parameter"
    as_jpeg = {"Content-Type": "image/jpeg"}
    bad = [("min-confidence-2", "/detect?min_confidence=2", "min_confidence above 1"),
           ("min-confidence-negative", "/faces?min_confidence=-0.1", "min_confidence below 0"),
           ("min-confidence-nan", "/detect?min_confidence=nan", "min_confidence NaN"),
           ("min-confidence-text", "/segment?min_confidence=high", "min_confidence not a number"),
           ("max-results-negative", "/detect?max_results=-1", "max_results -1"),
           ("max-results-huge", "/faces?max_results=99999999999999999999", "max_results beyond Int"),
           ("max-results-fraction", "/detect?max_results=2.5", "max_results not whole"),
           ("iou-over-one", "/detect?iou=7", "iou above 1"),
           ("unknown-class", "/detect?classes=unicorn", "a class the model does not have"),
           ("unknown-attribute", "/faces?attributes=height", "an attribute /faces does not estimate"),
           ("thresholds-wrong-count", "/faces?thresholds=0.5,0.6", "two thresholds instead of three"),
           ("min-face-size-tiny", "/faces?min_face_size=1", "min_face_size below 12"),
           ("model-wrong-task", "/detect?model=mtcnn", "a faces model asked to detect objects")]
    for case_id, path, note in bad:
        request(case_id, c, "POST", path, error(400, "invalid_parameter"), note, body=jpeg_path, headers=as_jpeg)
    request("query-bad-percent-escape", c, "POST", "/detect?min_confidence=%zz", error(400, "bad_request"),
            "a malformed percent-escape in the query", body=jpeg_path, headers=as_jpeg)
    request("model-unknown", c, "POST", "/detect?model=no-such-model", error(404, "model_not_found"), "an unknown model",
            body=jpeg_path, headers=as_jpeg)
    request("model-path-traversal", c, "POST", "/faces?model=..%2F..%2Fetc%2Fpasswd", error(404, "model_not_found"),
            "a model name that is a path", body=jpeg_path, headers=as_jpeg)
    request("requests-limit-zero", c, "GET", "/requests?limit=0", error(400, "invalid_parameter"), "request log limit 0")
    request("requests-limit-huge", c, "GET", "/requests?limit=5000", error(400, "invalid_parameter"), "request log limit over 1000")
    r = "route"
    request("route-unknown", r, "GET", "/no-such-route", error(404, "not_found"), "an unknown path")
    request("route-wrong-method", r, "PUT", "/detect", error(405, "method_not_allowed"), "PUT on a POST route",
            body=jpeg_path, headers=as_jpeg)
    request("route-dot-dot-path", r, "GET", "/models/../../etc/passwd", error(404, "not_found"), "dot segments in the path")
    request("route-model-version-not-number", r, "POST", "/models/mtcnn/versions/abc/activate", error(400, "invalid_parameter"),
            "a version that is not a number")
    request("route-activate-unknown-model", r, "POST", "/models/no-such-model/versions/1/activate", error(404, "model_not_found"),
            "activating a model that does not exist")
    request("route-delete-unknown-version", r, "DELETE", "/models/mtcnn/versions/99", error(404, "model_not_found"),
            "deleting a version that does not exist")
    request("route-v2-unknown-model", r, "GET", "/v2/models/no-such-model", error(404, "model_not_found"),
            "OIP metadata of an unknown model")


# MARK: - ONNX models (POST /models)

def varint(value):
    value &= (1 << 64) - 1
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data


def value_info(name, dims, elem_type=1):
    shape = b"".join(field_bytes(1, field_varint(1, dim)) for dim in dims)
    tensor_type = field_varint(1, elem_type) + field_bytes(2, shape)
    return field_bytes(1, name) + field_bytes(2, field_bytes(1, tensor_type))


def node(op_type, inputs, outputs, name="", domain=None, attributes=b""):
    out = b"".join(field_bytes(1, value) for value in inputs) + b"".join(field_bytes(2, value) for value in outputs)
    out += field_bytes(3, name or op_type.lower()) + field_bytes(4, op_type) + attributes
    if domain is not None:
        out += field_bytes(7, domain)
    return out


def tensor(name, dims, elem_type=1, raw_data=None, external=None, int64_data=None):
    out = b"".join(field_varint(1, dim) for dim in dims) + field_varint(2, elem_type) + field_bytes(8, name)
    if int64_data is not None:
        out += field_bytes(7, b"".join(varint(value) for value in int64_data))
    if raw_data is not None:
        out += field_bytes(9, raw_data)
    if external is not None:
        for key, value in external:
            out += field_bytes(13, field_bytes(1, key) + field_bytes(2, value))
        out += field_varint(14, 1)
    return out


def model(nodes, inputs, outputs, initializers=(), opset=13, domains=()):
    graph = b"".join(field_bytes(1, n) for n in nodes) + field_bytes(2, "g")
    graph += b"".join(field_bytes(5, t) for t in initializers)
    graph += b"".join(field_bytes(11, i) for i in inputs) + b"".join(field_bytes(12, o) for o in outputs)
    out = field_varint(1, 8) + field_bytes(2, "seer-bad-inputs")
    out += field_bytes(8, field_bytes(1, "") + field_varint(2, opset))
    for domain, version in domains:
        out += field_bytes(8, field_bytes(1, domain) + field_varint(2, version))
    return out + field_bytes(7, graph)


def relu_model():
    return model([node("Relu", ["x"], ["y"])], [value_info("x", [3, 4, 5])], [value_info("y", [3, 4, 5])])


def with_weight(weight):
    """y = x + w, where w is the given initializer named 'w'."""
    return model([node("Add", ["x", "w"], ["y"])], [value_info("x", [3, 4, 5])], [value_info("y", [3, 4, 5])],
                 initializers=[weight])


def models():
    c = "onnx-model"

    def manifest(name, task="anomaly"):
        return json.dumps({"name": name, "version": 1, "task": task, "description": "bad-input corpus",
                           "graphs": {"main": "model.onnx"}}, sort_keys=True).encode()

    def register(case_id, onnx, expect, note, name=None, manifest_bytes=None, parts=None):
        if parts is None:
            parts = [("file", "model.onnx", "application/octet-stream", onnx),
                     ("manifest", "manifest.json", "application/json", manifest_bytes or manifest(name or case_id))]
        request(case_id, c, "POST", "/models", expect, note,
                body=body_file(case_id + ".multipart", multipart(parts)), headers=FORM)

    relu = relu_model()
    register("model-valid-relu", relu, success(201), "a valid one-node model: the one registration that succeeds",
             name=REGISTERED)
    register("model-truncated", relu[:len(relu) // 2], error(400, "invalid_model_file"), "the valid model cut in half")
    register("model-garbage", bytes(random.Random(99).getrandbits(8) for _ in range(4096)), error(400, "invalid_model_file"),
             "4096 random bytes")
    register("model-text", b"this is not an onnx model\n" * 10, error(400, "invalid_model_file"), "plain text")
    register("model-empty-file", b"", error(400, "bad_request"), "an empty 'file' part")
    register("model-unknown-op", model([node("FrobnicateTensor", ["x"], ["y"])], [value_info("x", [3, 4, 5])],
                                       [value_info("y", [3, 4, 5])]),
             error(422, "unsupported_operator"), "an operator no ONNX opset defines")
    register("model-unsupported-op", model([node("Det", ["x"], ["y"])], [value_info("x", [3, 3])], [value_info("y", [])]),
             error(422, "unsupported_operator"), "Det: a real ONNX operator Seer does not implement")
    register("model-unknown-domain", model([node("Relu", ["x"], ["y"], domain="com.example.evil")], [value_info("x", [3, 4, 5])],
                                           [value_info("y", [3, 4, 5])], domains=[("com.example.evil", 1)]),
             error(422, "unsupported_operator"), "Relu from a custom operator domain")
    register("model-future-opset", model([node("Relu", ["x"], ["y"])], [value_info("x", [3, 4, 5])], [value_info("y", [3, 4, 5])],
                                         opset=999),
             error(422, "unsupported_operator"), "opset 999")
    register("model-huge-initializer-dims", with_weight(tensor("w", [100000, 100000, 100000], raw_data=b"\x00" * 4)),
             error(400, "invalid_model_file"), "an initializer claiming 10^15 floats with 4 bytes of data")
    register("model-overflowing-dims", with_weight(tensor("w", [1 << 62, 1 << 62], raw_data=b"\x00" * 4)),
             error(400, "invalid_model_file"), "initializer dimensions whose product overflows 64 bits")
    register("model-negative-dim", with_weight(tensor("w", [-1 & ((1 << 64) - 1), 5], raw_data=b"\x00" * 20)),
             error(400, "invalid_model_file"), "an initializer dimension of -1")
    register("model-pad-huge-constant", model(
        [node("Pad", ["one", "pads"], ["big"]), node("Add", ["x", "big"], ["y"])],
        [value_info("x", [3, 4, 5])], [value_info("y", [3, 4, 5])],
        initializers=[tensor("one", [1], raw_data=struct.pack("<f", 1.0)),
                      tensor("pads", [2], elem_type=7, raw_data=struct.pack("<2q", 1 << 40, 1 << 40))]),
        error(400, "invalid_model_file"), "constant folding would Pad one float to 2^41 floats")
    register("model-resize-huge-constant", model(
        [node("Resize", ["small", "", "scales"], ["big"]), node("Add", ["x", "big"], ["y"])],
        [value_info("x", [3, 4, 5])], [value_info("y", [3, 4, 5])],
        initializers=[tensor("small", [1, 1, 2, 2], raw_data=struct.pack("<4f", 1, 2, 3, 4)),
                      tensor("scales", [4], raw_data=struct.pack("<4f", 1, 1, 1e6, 1e6))]),
        error(400, "invalid_model_file"), "constant folding would Resize 2x2 by a million on each axis")
    register("model-external-data-escape", with_weight(tensor("w", [3, 4, 5], external=[("location", "../../../../../../../../etc/passwd")])),
             error(400, "invalid_model_file"), "external data at ../../../../etc/passwd")
    register("model-external-data-absolute", with_weight(tensor("w", [3, 4, 5], external=[("location", "/etc/passwd")])),
             error(400, "invalid_model_file"), "external data at the absolute path /etc/passwd")
    register("model-external-data-database", with_weight(tensor("w", [3, 4, 5], external=[("location", "../../seer.sqlite"),
                                                                                         ("length", "240")])),
             error(400, "invalid_model_file"), "external data pointing from the upload's staging folder at the service's database")
    register("model-external-data-dot", with_weight(tensor("w", [3, 4, 5], external=[("location", ".")])),
             error(400, "invalid_model_file"), "external data at '.', the upload's own staging folder")
    register("model-external-data-missing", with_weight(tensor("w", [3, 4, 5], external=[("location", "weights.bin")])),
             error(400, "invalid_model_file"), "external data in a file the upload cannot contain")
    register("model-cyclic-graph", model([node("Relu", ["x2"], ["x1"], name="a"), node("Relu", ["x1"], ["x2"], name="b"),
                                          node("Add", ["x", "x1"], ["y"], name="c")],
                                         [value_info("x", [3, 4, 5])], [value_info("y", [3, 4, 5])]),
             error(400, "invalid_model_file"), "two nodes that feed each other")
    register("model-dangling-input", model([node("Add", ["x", "nowhere"], ["y"])], [value_info("x", [3, 4, 5])],
                                           [value_info("y", [3, 4, 5])]),
             error(400, "invalid_model_file"), "a node reading a value nothing produces")
    register("model-output-not-produced", model([node("Relu", ["x"], ["z"])], [value_info("x", [3, 4, 5])],
                                                [value_info("y", [3, 4, 5])]),
             error(400, "invalid_model_file"), "a graph output no node produces")
    register("model-raw-data-size-mismatch", with_weight(tensor("w", [3, 4, 5], raw_data=b"\x00" * 7)),
             error(400, "invalid_model_file"), "raw_data of 7 bytes for 60 floats")
    register("model-bad-wire-type", field_bytes(1, b"x") + b"\x3a\xff\xff\xff\xff\x0f", error(400, "invalid_model_file"),
             "protobuf with a wrong wire type and a 4 GiB length prefix")
    register("model-no-graph", field_varint(1, 8) + field_bytes(8, field_bytes(1, "") + field_varint(2, 13)),
             error(400, "invalid_model_file"), "a model without a graph")
    register("model-empty-graph", model([], [], []), error(400, "invalid_model_file"), "a graph without inputs, nodes or outputs")
    register("model-manifest-missing", None, error(400, "bad_request"), "no 'manifest' part",
             parts=[("file", "model.onnx", "application/octet-stream", relu)])
    register("model-manifest-invalid-json", relu, error(400, "bad_request"), "a manifest that is not JSON",
             manifest_bytes=b"{\"name\": \"x\", ")
    register("model-manifest-invalid-utf8", relu, error(400, "bad_request"), "a manifest that is not UTF-8",
             manifest_bytes=b"{\"name\": \"\xff\xfe\", \"task\": \"anomaly\"}")
    register("model-manifest-path-name", relu, error(400, "invalid_parameter"), "a model name that climbs out of the models folder",
             manifest_bytes=manifest("../../escaped"))
    register("model-manifest-unknown-task", relu, error(400, "invalid_parameter"), "an unknown task",
             manifest_bytes=manifest("bad-task", task="mind-reading"))
    request("model-raw-body", c, "POST", "/models", error(415, "unsupported_media_type"), "the ONNX file as a raw body",
            body=body_file("model-raw-body.onnx", relu), headers={"Content-Type": "application/octet-stream"})


# MARK: - Open Inference Protocol v2

def inference_protocol():
    c = "oip-v2"
    path = "/v2/models/%s/infer" % REGISTERED
    as_json = {"Content-Type": "application/json"}

    def infer(case_id, body, expect, note, target=path):
        request(case_id, c, "POST", target, expect, note, body=body_file(case_id + ".json", body), headers=as_json)

    def tensor_json(shape, data, datatype="FP32", name="x"):
        return json.dumps({"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}).encode()

    sixty = [index / 10 for index in range(-30, 30)]
    infer("v2-invalid-utf8", b'{"inputs": [{"name": "\xff\xfe", "shape": [1], "datatype": "FP32", "data": [1]}]}',
          error(400, "bad_request"), "invalid UTF-8 inside a JSON string")
    infer("v2-truncated-json", tensor_json([3, 4, 5], sixty)[:-20], error(400, "bad_request"), "JSON cut short")
    infer("v2-not-json", b"inputs=x", error(400, "bad_request"), "not JSON")
    infer("v2-empty-object", b"{}", error(400, "bad_request"), "no inputs")
    infer("v2-top-level-array", b"[1, 2, 3]", error(400, "bad_request"), "a JSON array instead of an object")
    infer("v2-data-as-string", tensor_json([3], "abc"), error(400, "bad_request"), "data is a string")
    infer("v2-data-with-null", tensor_json([3], [1, None, 2]), error(400, "bad_request"), "a null inside data")
    infer("v2-number-out-of-range", b'{"inputs": [{"name": "x", "shape": [3, 4, 5], "datatype": "FP32", "data": [1e400'
          + b"".join(b", %d" % index for index in range(59)) + b']}]}',
          error(400, "bad_request"), "a number beyond double among 59 good ones")
    infer("v2-wrong-count", tensor_json([3, 4, 5], sixty[:59]), error(400, "invalid_parameter"), "59 values for shape [3,4,5]")
    infer("v2-negative-dim", tensor_json([-3, 4, 5], sixty), error(400, "invalid_parameter"), "a negative dimension")
    infer("v2-huge-claimed-shape", tensor_json([100000, 100000, 100000], [1.0]), error(400, "invalid_parameter"),
          "shape of 10^15 elements with one value")
    infer("v2-overflowing-shape", tensor_json([1 << 62, 1 << 62, 4], [1.0]), error(400, "invalid_parameter"),
          "a shape whose product overflows")
    infer("v2-rank-too-high", tensor_json([1] * 9 + [60], sixty), error(400, "invalid_parameter"), "rank 10")
    infer("v2-wrong-datatype", tensor_json([3, 4, 5], sixty, datatype="BYTES"), error(400, "invalid_parameter"), "datatype BYTES")
    infer("v2-int64-fraction", tensor_json([3, 4, 5], sixty, datatype="INT64"), error(400, "invalid_parameter"),
          "INT64 data with fractions")
    infer("v2-wrong-shape-for-model", tensor_json([60], sixty), error(400, "bad_request"), "60 values as [60] for a [3,4,5] input")
    infer("v2-wrong-dtype-for-model", tensor_json([3, 4, 5], [int(v) for v in sixty], datatype="INT64"), error(400, "bad_request"),
          "INT64 input to a float model")
    infer("v2-wrong-input-name", tensor_json([3, 4, 5], sixty, name="nope"), error(400, "bad_request"), "an input the graph lacks")
    infer("v2-unknown-output", json.dumps({"inputs": [{"name": "x", "shape": [3, 4, 5], "datatype": "FP32", "data": sixty}],
                                           "outputs": [{"name": "nope"}]}).encode(),
          error(400, "invalid_parameter"), "an output the graph lacks")
    infer("v2-ragged-nesting", tensor_json([2, 2], [[1, 2], [3]]), error(400, "invalid_parameter"), "ragged nested data (3 values for [2,2])")
    infer("v2-deep-nesting", b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ' + b"[" * 40000 + b"1"
          + b"]" * 40000 + b"}]}", error(400, "bad_request"), "data nested 40000 arrays deep")
    infer("v2-unknown-model", tensor_json([3, 4, 5], sixty), error(404, "model_not_found"), "an unknown model",
          target="/v2/models/no-such-model/infer")


# MARK: - Videos (/anomaly)

def videos(jpeg_path):
    c = "video"
    octet = {"Content-Type": "application/octet-stream"}
    mp4 = read(VIDEO, "test_tamper.mp4")
    rng = random.Random(4321)

    def video(case_id, data, expect, note, name=None, path="/anomaly"):
        body = body_file(name, data) if name else data
        request(case_id, c, "POST", path, expect, note, body=body, headers=octet)

    moov = mp4.index(b"moov") - 4
    moov_length = struct.unpack(">I", mp4[moov:moov + 4])[0]
    video("video-truncated-mp4", mp4[:moov + moov_length // 2], error(400, "invalid_video"),
          "test_tamper.mp4 cut in the middle of its moov index (no frame data)", name="video-truncated.mp4")
    video("video-truncated-index", read(VIDEO, "bad_truncated_index.mp4"), error(400, "invalid_video"),
          "half a clip remuxed with its index at the end", name="video-truncated-index.mp4")
    garbage = struct.pack(">I", 32) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2avc1mp41" + bytes(rng.getrandbits(8) for _ in range(8192))
    video("video-garbage-mp4-magic", garbage, error(400, "invalid_video"), "an ftyp box followed by 8 KiB of random bytes",
          name="video-garbage-mp4-magic.mp4")
    video("video-moov-claims-2gib", mp4[:moov] + struct.pack(">I", 0x7FFFFFF0) + b"moov" + b"\x00" * 256, error(400, "invalid_video"),
          "the real ftyp, then a moov box claiming 2 GiB with 256 bytes present", name="video-moov-claims-2gib.mp4")
    video("video-empty", b"", error(400, "bad_request"), "an empty body", name="empty")
    video("video-jpeg-image", None, error(400, "invalid_video"), "a JPEG photo posted as a video")
    cases[-1]["body"] = jpeg_path
    video("video-text", b"this is a video, trust me\n" * 20, error(400, "invalid_video"), "plain text", name="video-text.txt")
    video("video-audio-only", read(VIDEO, "bad_audio_only.m4a"), error(400, "invalid_video"), "an AAC file without video",
          name="video-audio-only.m4a")
    video("video-huge-frame-header", read(VIDEO, "bad_huge_header.avi"), error(422, "video_too_large"),
          "an AVI whose header claims 100000x100000 frames", name="video-huge-frame-header.avi")
    video("video-hls-playlist", b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
          error(400, "invalid_video"), "an HLS playlist naming a local file (FFmpeg would open it if HLS were probed)",
          name="video-hls-playlist.m3u8")
    video("video-ffconcat", b"ffconcat version 1.0\nfile /etc/passwd\nfile ../../../../etc/shadow\n", error(400, "invalid_video"),
          "an ffconcat script naming local files", name="video-ffconcat.txt")
    request("video-wrong-field", c, "POST", "/anomaly", error(400, "bad_request"), "a form with the clip in field 'clip'",
            body=body_file("video-wrong-field.multipart", multipart([("clip", "clip.mp4", "video/mp4", mp4[:2048])])), headers=FORM)
    video("video-bad-segments", None, error(400, "invalid_parameter"), "segments=0", path="/anomaly?segments=0")
    cases[-1]["body"] = "bodies/video-truncated.mp4"
    video("video-bad-fps", None, error(400, "invalid_parameter"), "fps=1000", path="/anomaly?fps=1000")
    cases[-1]["body"] = "bodies/video-truncated.mp4"


def main():
    malformed_http()
    body_framing()
    jpeg = images()
    jpeg_path = body_file("valid-small.jpg", jpeg)
    parameters(jpeg_path)
    models()
    inference_protocol()
    videos(jpeg_path)

    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for folder in ("raw", "bodies"):
        shutil.rmtree(os.path.join(HERE, folder), ignore_errors=True)
        os.makedirs(os.path.join(HERE, folder))
    for path, data in sorted(files.items()):
        assert len(data) < 100_000, path
        with open(os.path.join(HERE, path), "wb") as handle:
            handle.write(data)
    manifest = {"limits": {"max_body_bytes": MAX_BODY, "max_request_line_bytes": MAX_REQUEST_LINE,
                           "max_header_bytes": MAX_HEADER_BYTES, "max_header_count": MAX_HEADER_COUNT,
                           "max_image_pixels": MAX_PIXELS},
                "registered_model": REGISTERED,
                "cases": cases}
    with open(os.path.join(HERE, "cases.json"), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.write("\n")
    counts = {}
    for case in cases:
        counts[case["category"]] = counts.get(case["category"], 0) + 1
    total = sum(len(data) for data in files.values())
    print("%d cases, %d files, %d bytes: %s" % (len(cases), len(files), total,
                                               ", ".join("%s %d" % item for item in sorted(counts.items()))))


if __name__ == "__main__":
    main()
