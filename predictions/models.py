"""The prediction store (built out by the inference issue)."""
