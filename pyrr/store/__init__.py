"""Where pyrr's desired state comes from, one sub-package per kind of source.

- pyrr.store.file: the TOML configuration file, the environment (calico/routereflector's
  variables and pyrr's own) and their merge with the command line;
- pyrr.store.calico: Calico's v3 data model, its selectors, the peers it asks for, and the
  source that follows it live;
- pyrr.store.etcd: the etcd v3 client that lists and watches Calico's datastore.

The modules beside them hold what the sources share. Nothing is re-exported: import a name
from the module that defines it.
"""
