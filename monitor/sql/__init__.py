"""Every query of the product in both dialects, and the profiler that runs them where the data lives."""
