"""Tests for the configuration stores."""
