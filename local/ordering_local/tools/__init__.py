"""Build tools: what is generated from the code and committed (openapi.json, asyncapi.yaml, the
functions' alarms in template.yaml), each checked by a test. Never part of the runtime."""
