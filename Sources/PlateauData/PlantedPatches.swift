import PlateauTensor

/// A square of constant pixels pasted onto chosen images: the planted features of the
/// simplicity-bias and opposing-signals experiments (issue 15). USEFUL's shortcut variant
/// gives each class its own patch position on most training images (an easy feature that
/// predicts the label during training and is absent at test time); the opposing-signals
/// experiment pastes one bright patch onto a few images of two classes (a large feature
/// shared across classes, whose gradients oppose each other).
public struct PlantedPatch: Sendable, Equatable {
    /// Top-left corner in the image.
    public var row: Int
    public var column: Int
    /// Side length in pixels.
    public var size: Int
    /// The pixel value written into every channel.
    public var value: Float

    public init(row: Int, column: Int, size: Int, value: Float) {
        self.row = row
        self.column = column
        self.size = size
        self.value = value
    }

    /// The square lies inside `height × width` images.
    public func fits(height: Int, width: Int) -> Bool {
        size >= 1 && row >= 0 && column >= 0 && row + size <= height && column + size <= width
    }

    /// The class-`label` patch of the shortcut variant for `height × width` images: 3×3 (2×2
    /// below 16 pixels) in the border, classes 0…4 along the top edge and 5…9 along the
    /// bottom (more classes wrap to further rows), so that on 28×28 images each of ten classes
    /// has its own position where MNIST digits leave the image blank (on smaller images
    /// positions may overlap).
    public static func shortcut(label: Int, height: Int, width: Int, value: Float = 1) -> PlantedPatch {
        let size = height < 16 ? 2 : 3
        let perRow = max(1, (width - 1) / (size + 2))
        let slot = label % (2 * perRow)
        let band = label / (2 * perRow)  // only for more than 2·perRow classes
        let top = slot < perRow
        let row = top ? min(band * (size + 1), height - size) : max(0, height - size - band * (size + 1))
        let column = 1 + (slot % perRow) * (size + 2)
        return PlantedPatch(row: row, column: min(column, width - size), size: size, value: value)
    }
}

extension Dataset {
    /// The dataset with `patch(label)` pasted onto the images at `indices` (every channel).
    public func pasting(_ patch: (Int) -> PlantedPatch, onto indices: [Int], name: String? = nil) -> Dataset {
        precondition(images.rank == 4, "pasting: expected [N, C, H, W] images, got \(images.shape)")
        let (channels, height, width) = (images.shape[1], images.shape[2], images.shape[3])
        var scalars = images.scalars
        for index in indices {
            let p = patch(labels[index])
            precondition(p.fits(height: height, width: width), "pasting: a \(p.size)-pixel patch at (\(p.row), \(p.column)) does not fit \(height)x\(width) images")
            for channel in 0..<channels {
                let base = ((index * channels) + channel) * height * width
                for r in p.row..<(p.row + p.size) {
                    for c in p.column..<(p.column + p.size) { scalars[base + r * width + c] = p.value }
                }
            }
        }
        return Dataset(name: name ?? self.name, images: Tensor(shape: images.shape, scalars: scalars), labels: labels, classCount: classCount, classNames: classNames)
    }

    /// `fraction` of each class's examples (at least one when the fraction is positive and the
    /// class is not empty), drawn without replacement with a generator seeded by `seed`,
    /// classes in label order; ascending indices.
    public func sampledPerClass(fraction: Double, classes: [Int]? = nil, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        var chosen: [Int] = []
        for label in classes ?? Array(0..<classCount) {
            let members = labels.indices.filter { labels[$0] == label }
            guard !members.isEmpty, fraction > 0 else { continue }
            let count = min(members.count, max(1, Int((fraction * Double(members.count)).rounded())))
            chosen += members.shuffled(using: &generator).prefix(count)
        }
        return chosen.sorted()
    }
}
