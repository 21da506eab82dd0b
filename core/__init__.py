"""The kernel every app builds on: errors, datasets, storage, naming, background helpers, shared bases.

It imports no app and not the project package (import-linter's layers contract, pyproject.toml).
"""
