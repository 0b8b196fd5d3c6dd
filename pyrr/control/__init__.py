"""The local control endpoint: a Unix socket answering `pyrr status` and `pyrr routes`."""
