"""A test lab of hosts in network namespaces, and drivers for the BGP daemons run in it.

`netns` builds the namespaces and runs processes in them; `bird` drives BIRD 2 and
Calico-style BIRD 1.6; `fixtures` gives pytest a `lab` fixture that always cleans up.
"""

from .netns import GiveUp, Host, Lab, LabError, wait_until

__all__ = ["GiveUp", "Host", "Lab", "LabError", "wait_until"]
