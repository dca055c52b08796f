// PlateauReport: renders a comparison — SVG charts and the self-contained HTML and Markdown
// report of `plateau compare` — from a `ComparisonSummary`. It computes nothing and trains
// nothing: the runs and their sharpness come from PlateauComparison.
