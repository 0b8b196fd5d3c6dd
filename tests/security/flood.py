"""A connection flood against a BGP listener, bounded in count and in time (a test tool).

    python -m tests.security.flood --port P --count 2000 --seconds 8 \
        --configured 127.0.2.9 --strangers 127.0.3.

Opens `count` TCP connections at an even pace over `seconds` to 127.0.0.1:P, alternating between
the configured address (a peer that then never sends an OPEN) and 250 unconfigured loopback
addresses (strangers, which pyrr must reject). Each connection sends nothing and is closed
`hold` seconds later (or when the flood ends). The process stops after `seconds` + 5 s whatever
happens. Prints one JSON line: how many connections were opened and how many failed.

Loopback only: the target is always 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import errno
import json
import socket
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--hold", type=float, default=0.5)
    ap.add_argument("--configured", default="127.0.2.9")
    ap.add_argument("--strangers", default="127.0.3.")
    args = ap.parse_args(argv)
    count = min(args.count, 5000)
    seconds = min(args.seconds, 30.0)
    start = time.monotonic()
    hard_stop = start + seconds + 5.0
    open_socks: collections.deque[tuple[float, socket.socket]] = collections.deque()
    opened = failed = 0
    for i in range(count):
        now = time.monotonic()
        if now > hard_stop:
            break
        due = start + i * seconds / count
        if due > now:
            time.sleep(due - now)
        src = args.configured if i % 2 else f"{args.strangers}{1 + (i // 2) % 250}"
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setblocking(False)
            s.bind((src, 0))
            rc = s.connect_ex(("127.0.0.1", args.port))
            if rc not in (0, errno.EINPROGRESS):
                raise OSError(rc, errno.errorcode.get(rc, "?"))
        except OSError:
            failed += 1
            s.close()
        else:
            opened += 1
            open_socks.append((time.monotonic(), s))
        cutoff = time.monotonic() - args.hold
        while open_socks and open_socks[0][0] < cutoff:
            open_socks.popleft()[1].close()
    while open_socks:
        open_socks.popleft()[1].close()
    print(json.dumps({"opened": opened, "failed": failed, "took": time.monotonic() - start}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
