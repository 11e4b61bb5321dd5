"""Training utilities used to make the shipped weights (not needed to encode/decode)."""
