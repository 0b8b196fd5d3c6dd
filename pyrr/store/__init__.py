"""Configuration stores: each turns a source (a TOML file, Calico's datastore) into a Config."""
