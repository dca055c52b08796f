import ArgumentParser
import Foundation
import Plateau
import PlateauMPI

/// How a command's processes cooperate.
enum DistributedMode: String, ExpressibleByArgument, CaseIterable {
    /// One process.
    case none
    /// Data-parallel over the ranks `mpirun` started (Open MPI).
    case mpi
}

extension EpsilonSource: ExpressibleByArgument {}

/// `--distributed` and what goes with it (`plateau train`).
struct DistributedOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "none, or mpi: data-parallel over the ranks of `mpirun -np N plateau train … --distributed mpi`; --batch-size stays the global batch, split over the ranks; rank 0 writes the run directory (--output required). See docs/distributed.md.",
        valueName: "mode"))
    var distributed: DistributedMode = .none

    @Option(help: ArgumentHelp(
        "Under --distributed: the gradient a sharpness-aware ascent ε comes from, local (each rank's shard: m-sharpness with m = the local batch, no extra communication) or global (the whole batch's, one extra allreduce per step).",
        valueName: "source"))
    var samEpsilon: EpsilonSource = .local
}

extension TrainCommand {
    /// Runs `body` as one rank of the MPI job and finalizes MPI after it. A rank that fails
    /// (a bad setting, a file it cannot read, diverged weights) prints its error and aborts
    /// the whole job (MPI_Abort), since its peers would otherwise wait for it in their next
    /// collective; a stop (Ctrl-C, SIGTERM) is agreed on by every rank and ends normally.
    static func runDistributed(_ body: (any Communicator) throws -> Void) throws {
        let world: MPICommunicator
        do { world = try MPICommunicator.start() } catch { throw ValidationError("--distributed mpi: \(error)") }
        do {
            try body(world)
        } catch let exit as ExitCode {
            MPICommunicator.finish()
            throw exit
        } catch {
            guard world.size > 1 else {
                MPICommunicator.finish()
                throw error
            }
            let text = String(describing: error)
            FileHandle.standardError.write(Data("Error (rank \(world.rank) of \(world.size)): \(text)\nplateau: aborting every rank of the job\n".utf8))
            world.abort(code: 1)
        }
        MPICommunicator.finish()
    }
}
