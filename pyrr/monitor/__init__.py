"""Monitoring exports, sans-IO: BMP (RFC 7854, RFC 9069) and MRT (RFC 6396)."""
