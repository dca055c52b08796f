import Foundation
import Testing

/// Issue 10: SAF and MESA silently equal their base optimizer when the run ends before the
/// term switches on; train, compare and demo warn. Failed before the fix.
extension CLITests {
    // MARK: - A trajectory term that never switches on

    @Test func aRunEndingBeforeTheTermStartsIsWarnedAbout() throws {
        let saf = try Self.run(["train", "--optimizer", "saf", "--epochs", "2", "--train-limit", "100"])
        #expect(saf.status == 0, "\(saf.error)")
        #expect(saf.error.contains("warning: saf") && saf.error.contains("--saf-start 5") && saf.error.contains("2 epochs"), "\(saf.error)")
        // On in the epochs e > E_start (0-based): 2 epochs with --saf-start 0 reach epoch 1.
        let on = try Self.run(["train", "--optimizer", "mesa", "--saf-start", "0", "--epochs", "2", "--train-limit", "100"])
        #expect(on.status == 0 && !on.error.contains("warning"), "\(on.error)")
        let plain = try Self.run(["train", "--optimizer", "sam", "--epochs", "1", "--train-limit", "100"])
        #expect(plain.status == 0 && !plain.error.contains("warning"), "\(plain.error)")

        let demo = try Self.run(["demo", "--optimizers", "sgd,mesa", "--epochs", "1", "--hessian-iterations", "0"])
        #expect(demo.status == 0, "\(demo.error)")
        #expect(demo.error.contains("warning: mesa") && demo.error.contains("1 epoch") && !demo.error.contains("warning: sgd"), "\(demo.error)")

        let output = try Self.temporaryDirectory().appendingPathComponent("compare")
        let compare = try Self.run([
            "compare", "--optimizers", "saf", "--epochs", "3", "--seeds", "1", "--train-limit", "100", "--sharpness-samples", "16",
            "--eigen-iterations", "2", "--landscape-points", "0", "--output", output.path,
        ])
        #expect(compare.status == 0, "\(compare.error)")
        #expect(compare.error.contains("warning: saf") && compare.error.contains("3 epochs"), "\(compare.error)")
    }
}
