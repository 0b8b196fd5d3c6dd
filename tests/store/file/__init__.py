"""Tests for pyrr.store.file: the TOML file, the environment, the merge."""
