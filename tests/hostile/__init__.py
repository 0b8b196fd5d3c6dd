"""The hostile-peer suite: a table of protocol abuses (cases.py) run over real sockets against
pyrr in-process on loopback and as `pyrr run` in a network-namespace lab (test_hostile.py)."""
