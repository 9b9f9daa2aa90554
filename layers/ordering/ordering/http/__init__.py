"""The HTTP edge: API Gateway events in, JSON out."""
