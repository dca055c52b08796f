/// The augmentation a dataset's training images take when a run asks for augmentation, as
/// the dataset declares it: a random crop with zero padding, and a random horizontal flip for
/// datasets whose classes survive a mirror image (natural images; not digits).
public struct AugmentationRecipe: Sendable, Equatable {
    /// Zero padding of the random crop, in pixels (0: no crop).
    public var cropPadding: Int
    /// Flip each image left–right with probability ½.
    public var horizontalFlip: Bool

    public init(cropPadding: Int, horizontalFlip: Bool) {
        precondition(cropPadding >= 0, "AugmentationRecipe: negative crop padding")
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }

    /// For images no dataset describes: a crop padded by an eighth of the height (at least
    /// one pixel), no flip.
    public static func standard(imageHeight: Int) -> AugmentationRecipe {
        AugmentationRecipe(cropPadding: max(1, imageHeight / 8), horizontalFlip: false)
    }

    /// The pipeline — crop, then flip — or nil when the recipe does nothing.
    public var augmentation: Augmentation? {
        var steps: [Augmentation.Step] = []
        if cropPadding > 0 { steps.append(.randomCrop(padding: cropPadding)) }
        if horizontalFlip { steps.append(.horizontalFlip()) }
        return steps.isEmpty ? nil : Augmentation(steps)
    }
}
