"""The thin asyncio layer: TCP in and out, timers. All protocol logic lives in pyrr.bgp."""
