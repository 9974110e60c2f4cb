"""Fair comparisons of outcomes with and without the service's help (issue 13): inverse-probability
(optionally doubly robust) weighting, a fuzzy regression discontinuity at the flag's cut-off and a
risk-adjusted before/after comparison, each naming its estimand and assumption beside the naive figure;
`riskengine impact` writes them up."""
