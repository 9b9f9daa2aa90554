"""The Ordering service's shared layer: domain rules, use cases and the adapters at its edge."""
