public enum PlateauOptimPlaceholder {}
