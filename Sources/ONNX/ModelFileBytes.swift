import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A model file's bytes, read (not mapped: a mapped file that shrinks under us would fault) into
/// private anonymous memory that this object owns, so that the pages of a tensor's `raw_data` can be
/// handed back to the kernel once the tensor has been copied out. Loading a model then needs about
/// the file's size, not the file's size plus its decoded weights.
final class ModelFileBytes {
    /// The file's bytes; slices of it share this memory. Released ranges read as zeros.
    let data: Data
    private let region: UnsafeMutableRawBufferPointer?

    /// Reads `url` whole. Files that are not regular (pipes, devices) are read into ordinary memory.
    init(contentsOf url: URL) throws {
        func fail(_ reason: String) -> ONNXError { .unreadableFile(path: url.path, reason: reason) }
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fail(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw fail(String(cString: strerror(errno))) }
        guard (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 else {
            if (status.st_mode & S_IFMT) == S_IFDIR { throw fail("it is a directory") }
            data = try readFile(url)
            region = nil
            return
        }
        let size = Int(status.st_size)
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              Int(bitPattern: base) != -1 else {
            throw fail("cannot reserve \(size) bytes: \(String(cString: strerror(errno)))")
        }
        let region = UnsafeMutableRawBufferPointer(start: base, count: size)
        guard let count = ModelFileBytes.readAll(descriptor, into: region) else {
            let reason = String(cString: strerror(errno))
            munmap(base, size)
            throw fail(reason)
        }
        // A file that shrank while being read keeps the bytes read; the parser reports what is missing.
        self.region = region
        data = Data(bytesNoCopy: base, count: count, deallocator: .custom { pointer, _ in munmap(pointer, size) })
    }

    /// Hands back the pages lying wholly inside `bytes` (a slice of `data` whose contents have been
    /// copied out and are never read again). Pages shared with neighbouring fields are kept.
    func release(_ bytes: Data) {
        guard let region, let regionStart = region.baseAddress, bytes.count > 0 else { return }
        bytes.withUnsafeBytes { raw in
            guard let start = raw.baseAddress, start >= UnsafeRawPointer(regionStart),
                  start + raw.count <= UnsafeRawPointer(regionStart) + region.count else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let first = (Int(bitPattern: start) + page - 1) / page * page
            let end = (Int(bitPattern: start) + raw.count) / page * page
            guard first < end, let pages = UnsafeMutableRawPointer(bitPattern: first) else { return }
            madvise(pages, end - first, MADV_DONTNEED)
        }
    }

    /// Reads until `region` is full or the file ends; returns the bytes read, or nil with `errno` set.
    private static func readAll(_ descriptor: Int32, into region: UnsafeMutableRawBufferPointer) -> Int? {
        var count = 0
        while count < region.count {
            let result = read(descriptor, region.baseAddress! + count, min(region.count - count, 1 << 30))
            if result < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if result == 0 { break }
            count += result
        }
        return count
    }
}
