import Foundation

/// A training run that stopped on a non-finite loss.
public struct TrainingError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var description: String
    public var errorDescription: String? { description }
}
