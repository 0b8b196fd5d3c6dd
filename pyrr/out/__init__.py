"""Outbound: update groups that encode each change once and write the same bytes to every member."""
