"""The published topics: the events the service publishes and the producer that sends them."""
