"""The bottom layer: error types and atomic file writing, importing nothing of the project's own.

Layers go one way: core <- envs <- common (plumbing) <- algos <- runner, analysis."""
