"""The sans-IO BGP-4 core: codec and session state machine. No sockets, no asyncio, no clock.

Layout (one idea per file): constants (IntEnums) · errors · nlri · capabilities · attributes ·
messages (framing, OPEN, NOTIFICATION, ROUTE-REFRESH) · update (UPDATE decoding + RFC 7606) ·
encode (the one UPDATE encoder) · events · fsm (Session) · decode (human-readable dumps).
"""
