// PlateauReport: sharpness reports — SVG charts, the self-contained HTML and Markdown report
// of `plateau compare`, and the runner that trains and measures each configuration.
// It sits above PlateauTraining and PlateauAnalysis and uses no Apple-only frameworks.
