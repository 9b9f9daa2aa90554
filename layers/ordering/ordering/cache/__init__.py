"""Redis: a cache in front of PostgreSQL. A miss or an outage is never an error."""
