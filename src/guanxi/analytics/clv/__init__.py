"""Customer lifetime value: BG/NBD, modified BG/NBD and Gamma-Gamma, fitted on weighted unique rows."""
