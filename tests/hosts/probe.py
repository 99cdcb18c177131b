"""A UDP echo probe between simulated hosts (the hosts have no ping).

    probe.py serve PORT                 echo datagrams back until killed
    probe.py ping ADDR PORT COUNT WAIT  send COUNT datagrams, WAIT s for each
                                        reply; prints JSON {"sent", "received",
                                        "median_ms"}
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import time


def serve(port: int) -> None:
    """Echoes every datagram to its sender."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(data, peer)


def ping(address: str, port: int, count: int, wait: float) -> dict[str, float]:
    """Sends `count` numbered datagrams one at a time; counts the echoes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(wait)
    rtts = []
    for i in range(count):
        payload = str(i).encode()
        start = time.monotonic()
        sock.sendto(payload, (address, port))
        deadline = start + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                data, _ = sock.recvfrom(2048)
            except (socket.timeout, ConnectionRefusedError):
                break
            if data == payload:
                rtts.append((time.monotonic() - start) * 1000)
                break
    return {"sent": count, "received": len(rtts),
            "median_ms": statistics.median(rtts) if rtts else -1.0}


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "serve":
        serve(int(argv[1]))
        return 0
    if len(argv) == 5 and argv[0] == "ping":
        print(json.dumps(ping(argv[1], int(argv[2]), int(argv[3]),
                              float(argv[4]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
