"""Plain-Python domain of the Ordering service: no I/O here."""
