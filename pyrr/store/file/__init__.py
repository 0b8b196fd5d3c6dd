"""pyrr's settings from a TOML file, the environment and the command line, and their merge."""
