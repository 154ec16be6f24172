import ImageFuzzing

// PNG bytes (those starting with the PNG signature) through the server's image decoder.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzImageDecoding(data, size, format: .png, signature: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
}
