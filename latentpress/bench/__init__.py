"""The bench: sweeps, their resumable cache, the classic codecs it compares with, and the report."""
