"""pyrr: a pure-Python BGP-4 route reflector for Calico clusters."""

__version__ = "0.1.0"
