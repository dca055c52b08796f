// The umbrella module: `import Plateau` brings in the whole toolkit.
@_exported import PlateauAnalysis
@_exported import PlateauComparison
@_exported import PlateauData
@_exported import PlateauDistributed
@_exported import PlateauNN
@_exported import PlateauOptim
@_exported import PlateauReport
@_exported import PlateauTensor
@_exported import PlateauTraining
