extension String {
    /// Calls `body` with the string's UTF-8 bytes: read in place when they are contiguous (a
    /// native string), from a contiguous copy otherwise. Unlike `withUTF8`, not `mutating`.
    public func withUTF8Bytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let result = try utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = self
        return try copy.withUTF8(body)
    }
}
