import PlateauTraining
import Testing

private func line(label: String = "", loss: Float = 0.4321, samplesPerSecond: Double = 12_345, elapsed: Double = 62, remaining: Double? = 3_723) -> ProgressLine {
    ProgressLine(label: label, epoch: 3, epochs: 10, step: 120, steps: 240, loss: loss, accuracy: 0.8712,
                 samplesPerSecond: samplesPerSecond, elapsed: elapsed, remaining: remaining)
}

/// The line never exceeds the width, whatever the width and however long the numbers.
@Test(arguments: [1, 10, 20, 40, 60, 80, 120, 200])
func progressLineFitsTheWidth(width: Int) {
    let lines = [line(), line(label: "sam 2/3"), line(loss: 1.5e30, samplesPerSecond: 9.9e11, elapsed: 3.6e8, remaining: 9.9e8),
                 line(label: String(repeating: "x", count: 300), loss: .nan, samplesPerSecond: .infinity, remaining: nil)]
    for l in lines {
        let text = l.rendered(width: width)
        #expect(text.count <= width, "\(width): \(text)")
        #expect(!text.isEmpty)
    }
}

/// A wide terminal shows every field and a bar at most 40 wide; an 80-column one a shorter
/// bar with everything; a 40-column one drops fields but keeps the epoch, a bar and the ETA.
@Test func progressLineShrinksTheBarThenDropsFields() {
    let wide = line(label: "sam 2/3").rendered(width: 200)
    #expect(wide == "sam 2/3 epoch 3/10 [====================>                   ] 120/240 loss 0.4321 acc 87.12% 12345 samples/s elapsed 1:02 ETA 1:02:03")
    let normal = line().rendered(width: 80)
    #expect(normal.count <= 80)
    for field in ["epoch 3/10", "[", "=>", "loss 0.4321", "acc 87.12%", "ETA 1:02:03"] { #expect(normal.contains(field), "\(normal)") }
    let narrow = line().rendered(width: 40)
    #expect(narrow.count <= 40)
    #expect(narrow.hasPrefix("epoch 3/10 [") && narrow.hasSuffix("ETA 1:02:03"), "\(narrow)")
    #expect(!narrow.contains("samples/s") && !narrow.contains("elapsed"))
    // Too narrow for a bar: the epoch and the ETA alone.
    #expect(line().rendered(width: 24) == "epoch 3/10 ETA 1:02:03")
}

/// The plain line (log files) has every field and no bar; the bar is full at the last step.
@Test func plainLineAndFullBar() {
    #expect(line().plain == "epoch 3/10 120/240 loss 0.4321 acc 87.12% 12345 samples/s elapsed 1:02 ETA 1:02:03")
    var done = line()
    done.step = 240
    #expect(done.rendered(width: 200).contains("[" + String(repeating: "=", count: 40) + "]"))
    #expect(line(loss: 123_456).plain.contains("loss 1.235e+05"))
}

@Test func durationsAreMinutesOrHours() {
    #expect(ProgressLine.duration(0) == "0:00")
    #expect(ProgressLine.duration(59.6) == "1:00")
    #expect(ProgressLine.duration(754) == "12:34")
    #expect(ProgressLine.duration(3600) == "1:00:00")
    #expect(ProgressLine.duration(100 * 3600 + 61) == "100:01:01")
    #expect(ProgressLine.duration(nil) == "--:--")
    #expect(ProgressLine.duration(.infinity) == "--:--")
    #expect(ProgressLine.duration(-1) == "--:--")
}

/// Over several epochs: 0.5 s a step, 10 steps an epoch, 3 s of evaluation and checkpoint
/// between epochs. The estimate counts the steps left in this and the later epochs and the
/// time between epochs, so it is exact on such a steady run.
@Test func remainingTimeCoversTheLaterEpochsAndTheirEvaluations() throws {
    var estimator = RunTimeEstimator()
    let steps = 10, epochs = 4, perStep = 0.5, between = 3.0
    #expect(estimator.remaining(epoch: 0, step: 0, of: steps, epochs: epochs) == nil)
    var time = 0.0
    for epoch in 0..<epochs {
        for step in 1...steps {
            time += perStep
            estimator.stepFinished(epoch: epoch, step: step, at: time)
            guard step > 1 else { continue }
            let remaining = try #require(estimator.remaining(epoch: epoch, step: step, of: steps, epochs: epochs))
            let stepsLeft = Double(steps - step + (epochs - epoch - 1) * steps)
            // Before the first evaluation was seen, its time is unknown (counted as 0).
            let expected = stepsLeft * perStep + (epoch == 0 ? 0 : Double(epochs - epoch) * between)
            #expect(abs(remaining - expected) < 1e-9, "epoch \(epoch) step \(step): \(remaining) vs \(expected)")
        }
        // Evaluation takes 2 s, the checkpoint and the next epoch's setup 1 s more.
        estimator.epochFinished(at: time + 2)
        if epoch == 0 {
            #expect(estimator.secondsBetweenEpochs == 2, "the evaluation alone, until a next epoch starts")
        }
        time += between
    }
    #expect(estimator.secondsPerStep == perStep)
    #expect(estimator.secondsBetweenEpochs == between)
}

/// A resumed run starts mid-way: the estimate counts only the epochs still to train.
@Test func remainingTimeAfterResume() throws {
    var estimator = RunTimeEstimator()
    estimator.stepFinished(epoch: 7, step: 1, at: 100)
    estimator.stepFinished(epoch: 7, step: 2, at: 101)
    let remaining = try #require(estimator.remaining(epoch: 7, step: 2, of: 5, epochs: 10))
    #expect(remaining == 13, "3 steps left in epoch 8, 5 in each of epochs 9 and 10, at 1 s a step")
}

/// Log files get a line at most every `interval` seconds, the first one interval after the
/// start; an interval of 0 turns the lines off.
@Test func progressScheduleIsDueOncePerInterval() {
    var schedule = ProgressSchedule(interval: 10, start: 100)
    let due = [101.0, 109.9, 110, 111, 119.9, 120.5, 121, 200].filter { schedule.isDue(at: $0) }
    #expect(due == [110, 120.5, 200])
    var off = ProgressSchedule(interval: 0, start: 0)
    #expect(![1.0, 100, 1e6].contains { off.isDue(at: $0) })
}
