import ImageFuzzing

// JPEG bytes (those starting with the SOI marker) through the server's image decoder.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzImageDecoding(data, size, format: .jpeg, signature: [0xFF, 0xD8, 0xFF])
}
