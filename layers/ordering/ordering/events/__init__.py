"""The Kafka edge: MSK batches in, use cases called set-based, partial batch failures out."""
