"""The consumed topics: MSK batches in, parsed and applied set-based by the use cases, partial
batch failures out."""
