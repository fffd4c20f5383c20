/// Always the largest value: every jittered backoff lands on its ceiling.
struct MaximalRandom: RandomNumberGenerator, Sendable {
    mutating func next() -> UInt64 { .max }
}
