import Foundation
import Testing

/// `plateau alias-toy` and `plateau bench --image-side` check their options before reading
/// any data: a value they cannot use is a usage error naming the option.
extension CLITests {
    @Test(arguments: [
        (["alias-toy", "--variants", "alias,spade2"], "--variants: expected any of spade, spade+mask, alias, got 'spade2'"),
        (["alias-toy", "--shift", "0"], "--shift: expected 1...8, got 0"),
        (["alias-toy", "--seeds", "1,x"], "--seeds: expected comma-separated non-negative integers, got 'x'"),
        (["alias-toy", "--lr", "0"], "--lr: expected a finite number > 0.0"),
        (["bench", "--workloads", "umamba", "--image-side", "30"], "--image-side: expected a multiple of 4, got 30"),
    ])
    func layerCommandOptionsAreChecked(arguments: [String], message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status)\n\(result.error)")
        #expect(result.error.contains(message), "\(arguments):\n\(result.error)")
    }

    @Test func aliasToyNamesAMissingDataDirectory() throws {
        let result = try Self.run(["alias-toy", "--data-dir", "/nonexistent/mnist", "--steps", "1"])
        #expect(result.status == 1, "exit \(result.status)\n\(result.error)")
        #expect(result.error.contains("/nonexistent/mnist") || result.error.contains("train-images"), "\(result.error)")
    }
}
