import Dispatch
import Glibc

/// Maps indices on every online core, results in index order.
enum ParallelMap {
    static func map<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
        let workers = max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), count / 64))
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let shared = Shared(results)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var index = worker
            while index < count {
                shared.buffer[index] = body(index)
                index += workers
            }
        }
        return results.map { $0! }
    }

    private struct Shared<T>: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<T>
        init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
    }
}
