import Foundation
import Testing

/// `plateau train --distributed`: the options are checked before MPI starts (the 2-rank runs
/// themselves are scripts/mpi_equivalence.sh, under mpirun).
extension CLITests {
    @Test(arguments: [
        (["train", "--epochs", "1", "--distributed", "mpi"], "--distributed mpi needs --output"),
        (["train", "--epochs", "1", "--distributed", "slurm"], "--distributed"),
        (["train", "--epochs", "1", "--sam-epsilon", "both"], "--sam-epsilon"),
    ])
    func distributedOptionsAreUsageErrors(arguments: [String], mentions: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.status) \(result.error)")
        #expect(result.error.contains(mentions), "\(arguments): \(result.error)")
    }

    @Test func trainHelpDescribesTheDistributedOptions() throws {
        let result = try Self.run(["train", "--help"])
        #expect(result.output.contains("--distributed") && result.output.contains("--sam-epsilon"), "\(result.output)")
    }
}
