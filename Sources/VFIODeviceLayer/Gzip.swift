import CZlib

/// gzip data inflated with zlib, bounded: /proc/config.gz (CONFIG_IKCONFIG_PROC) is about 60 KB
/// holding about 250 KB of text. Anything that is not one whole gzip member, or inflates beyond
/// `limit`, is refused with the reason (the caller takes the configuration as unknown).
enum Gzip {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case notGzip(String)
        case tooLarge(Int)

        var description: String {
            switch self {
            case .notGzip(let why): "not gzip data (\(why))"
            case .tooLarge(let limit): "inflates to more than \(limit) bytes"
            }
        }
    }

    static func inflate(_ bytes: [UInt8], limit: Int) -> Result<[UInt8], Failure> {
        guard bytes.count >= 18, bytes[0] == 0x1f, bytes[1] == 0x8b else { return .failure(.notGzip("no gzip header")) }
        var stream = z_stream()
        // 16 + 15: a gzip wrapper around a 32 KiB window (inflateInit2 is a macro Swift cannot call).
        guard inflateInit2_(&stream, 16 + 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return .failure(.notGzip("zlib could not start"))
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var input = bytes
        return input.withUnsafeMutableBufferPointer { source -> Result<[UInt8], Failure> in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (status, buffer.count - Int(stream.avail_out))
                }
                guard output.count + produced <= limit else { return .failure(.tooLarge(limit)) }
                output += chunk[0..<produced]
                switch status {
                case Z_STREAM_END: return .success(output)
                case Z_OK: continue
                case Z_BUF_ERROR where stream.avail_in == 0: return .failure(.notGzip("truncated"))
                case Z_BUF_ERROR: continue
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    return .failure(.notGzip(message))
                }
            }
        }
    }
}
