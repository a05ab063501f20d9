"""Developer tools behind make: held-out evaluation, benchmarks and data validation."""
