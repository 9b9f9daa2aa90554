"""Use cases: one transaction each, given the adapters; none knows if HTTP or Kafka called it."""
