"""Benchmark scripts (run them as files: .venv/bin/python bench/<name>.py); see bench/README.md."""
