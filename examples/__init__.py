"""Outside algorithms that show how to run your own code in the suite's specs (docs/external_algorithms.md)."""
