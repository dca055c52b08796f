import Foundation
import PlateauData
import PlateauTensor
import PlateauTraining
import Testing

@Suite("datasets declare their augmentation")
struct AugmentationRecipeTests {
    @Test("each catalog entry states its crop and flip (the crop an eighth of the height, the flip for CIFAR only)")
    func catalogRecipes() {
        func recipe(_ name: String) -> AugmentationRecipe? { DatasetCatalog.entry(named: name)?.augmentation }
        #expect(recipe("digits") == .standard(imageHeight: 8))
        #expect(recipe("mnist") == .standard(imageHeight: 28))
        #expect(recipe("fashion-mnist") == .standard(imageHeight: 28))
        #expect(recipe("multi-mnist") == .standard(imageHeight: 28))
        for name in ["cifar10", "cifar100"] {
            #expect(recipe(name) == AugmentationRecipe(cropPadding: 4, horizontalFlip: true))
        }
        #expect(DatasetCatalog.names == ["digits", "mnist", "fashion-mnist", "multi-mnist", "cifar10", "cifar100"])
        #expect(recipe("some/table.csv") == nil)
        // Feature vectors are never augmented; images the catalog does not know get the standard crop.
        #expect(DatasetCatalog.augmentation(for: "some/table.csv", sampleShape: [64]) == nil)
        #expect(DatasetCatalog.augmentation(for: "cifar10", sampleShape: [3 * 32 * 32]) == nil)
        #expect(DatasetCatalog.augmentation(for: "synthetic", sampleShape: [1, 16, 16])?.steps.count == 1)
        #expect(AugmentationRecipe(cropPadding: 0, horizontalFlip: false).augmentation == nil)
    }

    @Test("under --augment the trainer applies the recipe of the dataset its configuration names")
    func trainerAsksTheDataset() throws {
        // The separable samples as 1×2×2 images.
        func images(_ d: Dataset) -> Dataset {
            Dataset(name: d.name, images: d.images.reshaped(to: [d.count, 1, 2, 2]), labels: d.labels, classCount: d.classCount)
        }
        func weights(dataset: String, augment: Bool) throws -> ParameterSet {
            var c = configuration("sgd", epochs: 2)
            c.dataset = dataset
            c.augment = augment
            let trainer = try Trainer(configuration: c, train: images(trainSet), test: images(testSet), output: nil)
            var observer = SilentObserver()
            return try trainer.runReturningModel(observer: &observer).model.stateDictionary
        }
        let plain = try weights(dataset: "synthetic", augment: false)
        let cropped = try weights(dataset: "synthetic", augment: true)  // standard: crop 1 for height 2
        #expect(cropped != plain)
        #expect(try weights(dataset: "digits", augment: true) == cropped)  // crop 1, no flip
        #expect(try weights(dataset: "cifar10", augment: true) != cropped)  // crop 4 and flip
        #expect(try weights(dataset: "cifar10", augment: false) == plain)
    }
}
