public enum PlateauNNPlaceholder {}
