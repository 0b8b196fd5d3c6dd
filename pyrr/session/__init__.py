"""Sans-IO neighbours: one object per configured peer that owns its BGP sessions and makes every
decision about them (collisions, retries, hold and stall limits, maximum prefixes, graceful
restart), with time passed in and effects handed out. No asyncio, no sockets, no clock."""
