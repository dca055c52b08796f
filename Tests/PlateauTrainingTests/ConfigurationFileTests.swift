import Foundation
import Testing
@testable import PlateauTraining

// Configuration files: the flags' names as keys, the camelCase files of older runs, strict
// keys, YAML, and the printed configuration (`plateau train --print-config`).

/// A `config.json` as runs wrote it before the keys became the flags' names (camelCase
/// fields beside the method's options; unset optional fields left out).
private let camelCaseConfiguration = #"""
{
  "augment" : true,
  "baseOptimizer" : "adamw",
  "batchSize" : 33,
  "dataDirectory" : "\/data\/fm",
  "dataset" : "fashion-mnist",
  "epochs" : 17,
  "gamma" : 0.2,
  "initialWeights" : "w.safetensors",
  "labelNoise" : 0.2,
  "labelNoiseKind" : "pair",
  "labelSmoothing" : 0.1,
  "learningRate" : 0.1,
  "mSharpness" : 16,
  "maxGradientNorm" : "inf",
  "microBatchSize" : 8,
  "milestones" : [
    5,
    10
  ],
  "model" : "lenet",
  "momentum" : 0.5,
  "nesterov" : true,
  "optimizer" : "gsam",
  "output" : "runs\/x",
  "rho" : 0.07,
  "rho-min" : 0.01,
  "alpha" : 0.3,
  "schedule" : "multistep",
  "seed" : 16045690984503111693,
  "shuffle" : false,
  "stepEpochs" : 30,
  "tensorboardInterval" : 5,
  "threads" : 3,
  "trainLimit" : 1000,
  "warmupEpochs" : 2,
  "weightDecay" : 0.0005
}
"""#

/// The configuration `camelCaseConfiguration` holds.
private var camelCaseExpected: RunConfiguration {
    var c = RunConfiguration()
    (c.model, c.dataset, c.dataDirectory, c.trainLimit) = ("lenet", "fashion-mnist", "/data/fm", 1000)
    (c.labelNoise, c.labelNoiseKind, c.augment, c.shuffle) = (0.2, "pair", true, false)
    (c.epochs, c.batchSize, c.optimizer, c.baseOptimizer) = (17, 33, "gsam", "adamw")
    (c.learningRate, c.momentum, c.nesterov, c.weightDecay) = (0.1, 0.5, true, 5e-4)
    (c.schedule, c.warmupEpochs, c.milestones, c.gamma, c.labelSmoothing) = ("multistep", 2, [5, 10], 0.2, 0.1)
    (c.maxGradientNorm, c.microBatchSize, c.mSharpness) = (.infinity, 8, 16)
    c.methodOptions = ["rho": 0.07, "rho-min": 0.01, "alpha": 0.3]
    (c.seed, c.threads, c.output, c.initialWeights, c.tensorboardInterval) = (0xDEAD_BEEF_CAFE_F00D, 3, "runs/x", "w.safetensors", 5)
    return c
}

private func configurationError(_ body: () throws -> Void) -> ConfigurationError? {
    do { try body() } catch let error as ConfigurationError { return error } catch { return nil }
    return nil
}

private func decode(_ text: String, format: ConfigurationFormat? = nil, source: String = "run.json") throws -> RunConfiguration {
    try RunConfiguration.decode(Data(text.utf8), source: source, format: format)
}

@Test func configurationKeysAreTheFlagsNames() throws {
    let object = try #require(try JSONSerialization.jsonObject(with: camelCaseExpected.json) as? [String: Any])
    for key in ["data-dir", "train-limit", "label-noise", "label-noise-kind", "batch-size", "base-optimizer", "lr", "weight-decay",
                "warmup-epochs", "step-epochs", "label-smoothing", "max-grad-norm", "micro-batch-size", "m-sharpness",
                "initial-weights", "tensorboard-interval", "rho-min"] {
        #expect(object[key] != nil, "config.json lacks '\(key)'")
    }
    #expect(!object.keys.contains { $0.contains(where: \.isUppercase) }, "camelCase keys: \(object.keys.sorted())")
    // Every field is written, unset ones as null: the file lists every key there is.
    #expect(Set(RunConfiguration.keys).isSubset(of: Set(RunConfiguration().json.jsonKeys)))
}

@Test func camelCaseFilesOfOlderRunsStillLoad() throws {
    let loaded = try decode(camelCaseConfiguration)
    #expect(loaded == camelCaseExpected)
    // …and written again, in the new spelling, they read back the same.
    #expect(try RunConfiguration.decode(loaded.json, source: "config.json") == camelCaseExpected)
    #expect(loaded.json.jsonKeys.contains("batch-size") && !loaded.json.jsonKeys.contains("batchSize"))

    // Files from before the method table: every method's fields, in camelCase.
    let older = #"{"optimizer": "saf", "learningRate": 0.1, "rho": 0.05, "safLambda": 0.3, "safTemperature": 5, "esamBeta": 0.6, "lookInterval": 5}"#
    let c = try decode(older)
    #expect(c.learningRate == 0.1)
    #expect(c.methodOptions == ["saf-lambda": 0.3, "saf-tau": 5])
}

@Test func resumingAnOldRunSeesNoChangedSettings() throws {
    // A run directory's config.json from before, resumed with the same flags.
    let stored = try decode(camelCaseConfiguration)
    #expect(RunDirectory.changedSettings(stored: stored, given: camelCaseExpected).isEmpty)
    var given = camelCaseExpected
    given.learningRate = 0.2
    #expect(RunDirectory.changedSettings(stored: stored, given: given).map(\.field) == ["lr"])
}

@Test func unknownKeysAreErrorsSuggestingTheNearestKey() throws {
    let typo = configurationError { _ = try decode(#"{"epochs": 3, "batchsize": 4}"#, source: "a/run.json") }
    #expect(typo?.field == "a/run.json")
    #expect(typo?.message.contains("unknown key 'batchsize', did you mean 'batch-size'?") == true, "\(String(describing: typo))")
    // A near old spelling is suggested in the new one.
    let old = configurationError { _ = try decode(#"{"learningrate": 0.1}"#) }
    #expect(old?.message.contains("did you mean 'lr'?") == true, "\(String(describing: old))")
    // A method's option is suggested too.
    let option = configurationError { _ = try decode(#"{"optimizer": "sam", "roh": 0.1}"#) }
    #expect(option?.message.contains("did you mean 'rho'?") == true, "\(String(describing: option))")
    let far = configurationError { _ = try decode(#"{"colour": "blue"}"#) }
    #expect(far?.message.contains("unknown key 'colour'") == true && far?.message.contains("did you mean") == false, "\(String(describing: far))")
}

@Test func anotherMethodsOptionNamesTheMethodsThatTakeIt() throws {
    let error = configurationError { _ = try decode(#"{"optimizer": "sgd", "rho": 0.1}"#) }
    #expect(error?.message.contains("key 'rho' is an option of sam, asam") == true, "\(String(describing: error))")
    #expect(error?.message.contains("not of the file's method sgd") == true, "\(String(describing: error))")
    let saf = configurationError { _ = try decode(#"{"optimizer": "saf", "esam-beta": 0.5}"#) }
    #expect(saf?.message.contains("option of esam") == true && saf?.message.contains("saf-lambda") == true, "\(String(describing: saf))")
    // The same key under both spellings is ambiguous.
    let both = configurationError { _ = try decode(#"{"batch-size": 4, "batchSize": 8}"#) }
    #expect(both?.message.contains("'batchSize' is the old spelling of 'batch-size'") == true, "\(String(describing: both))")
}

@Test func yamlFilesReadLikeJSON() throws {
    let yaml = """
        # a SAM run
        model: lenet
        dataset: fashion-mnist
        data-dir: /data/fm
        train-limit: 1000
        label-noise: 0.2
        label-noise-kind: pair
        augment: true
        shuffle: false
        epochs: 17
        batch-size: 33
        optimizer: gsam
        base-optimizer: adamw
        lr: 0.1
        momentum: 0.5
        nesterov: true
        weight-decay: 5.0e-4
        schedule: multistep
        warmup-epochs: 2
        milestones: [5, 10]
        gamma: 0.2
        label-smoothing: 0.1
        max-grad-norm: .inf
        micro-batch-size: 8
        m-sharpness: 16
        rho: 0.07
        rho-min: 0.01
        alpha: 0.3
        seed: 16045690984503111693
        threads: 3
        output: runs/x
        initial-weights: w.safetensors
        tensorboard-interval: 5
        """
    #expect(try decode(yaml, format: .yaml) == camelCaseExpected)
    #expect(try decode(yaml) == camelCaseExpected, "YAML is recognized by its content")
    #expect(try decode("epochs: 3\nmicro-batch-size: ~\n", format: .yaml).microBatchSize == nil)
    #expect(ConfigurationFormat(path: "x/run.yml", content: Data("{}".utf8)) == .yaml)
    #expect(ConfigurationFormat(path: "x/run.json", content: Data("a: 1".utf8)) == .json)
    #expect(ConfigurationFormat(path: "x/run.conf", content: Data("  {\"a\": 1}".utf8)) == .json)
}

@Test func yamlErrorsNameTheFileLineKeyAndValue() throws {
    func message(_ yaml: String) -> String {
        configurationError { _ = try decode(yaml, format: .yaml, source: "run.yaml") }.map(\.description) ?? "no error"
    }
    #expect(message("epochs: 3\nbatchsize: 4\n") == "run.yaml:2: unknown key 'batchsize', did you mean 'batch-size'? (the keys are `plateau train`'s flags; `plateau train --print-config` lists them)")
    #expect(message("epochs: ten\n") == #"run.yaml:1: key 'epochs': expected an integer, found a string "ten""#)
    #expect(message("model: mlp\nmilestones: [3, [4]]\n") == "run.yaml:2: key 'milestones[1]': expected an integer (an epoch), found an array")
    #expect(message("\nepochs: 2.5\n") == "run.yaml:2: key 'epochs': expected an integer, found the number 2.5")
    #expect(message("rho: 0.1\n").hasPrefix("run.yaml:1: key 'rho' is an option of sam"))
    let twice = message("epochs: 3\nepochs: 4\n")
    #expect(twice.hasPrefix("run.yaml: not valid YAML") && twice.contains("'epochs'"), "\(twice)")
    #expect(message("- 1\n- 2\n") == "run.yaml: expected a YAML mapping of settings (key: value lines), found an array")
    #expect(message("epochs: [3\n").hasPrefix("run.yaml: not valid YAML"))
}

@Test(arguments: ConfigurationFormat.allCases)
func printedConfigurationsReadBackTheSame(format: ConfigurationFormat) throws {
    for var c in [camelCaseExpected, RunConfiguration()] {
        let text = try c.printed(as: format)
        let read = try RunConfiguration.decode(Data(text.utf8), source: "printed", format: format)
        // Printed in full: the method's options appear with their defaults.
        c.methodOptions = try MethodRegistry.standard.resolvedOptions(for: c)
        #expect(read == c, "\(text)")
        #expect(try RunConfiguration.decode(Data(text.utf8), source: "printed") == c, "format from the content")
    }
    var sam = RunConfiguration()
    sam.optimizer = "sam"
    let printed = try sam.printed(as: format)
    for key in RunConfiguration.keys + ["rho"] { #expect(printed.contains("\"\(key)\"") || printed.contains("\n\(key):"), "\(key) missing:\n\(printed)") }
}

extension Data {
    /// The keys of the JSON object this holds.
    fileprivate var jsonKeys: [String] {
        ((try? JSONSerialization.jsonObject(with: self)) as? [String: Any]).map { Array($0.keys) } ?? []
    }
}
