"""Container health checks for the Paystream image, with the standard library only.

The image has no curl; Docker and Compose run these inside the container:

    python /opt/paystream/docker/healthcheck.py http URL [--contains TEXT]
        healthy when URL answers 2xx (and its body contains TEXT)
    python /opt/paystream/docker/healthcheck.py tcp HOST:PORT[,HOST:PORT...]
        healthy when every address accepts a TCP connection (e.g. a Kafka bootstrap list)

Exit status 0 = healthy, 1 = unhealthy, with one line saying why (Docker keeps it in
`docker inspect --format '{{json .State.Health}}' CONTAINER`).
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def check_http(url: str, contains: str | None) -> str | None:
    """None when the URL answers 2xx (with `contains` in the body), else the reason."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            body = response.read(65536).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}"
    except OSError as error:
        return f"{url} did not answer: {error}"
    if contains is not None and contains not in body:
        return f"{url} answered without {contains!r}"
    return None


def check_tcp(addresses: str) -> str | None:
    """None when every host:port in the comma list accepts a connection, else the reason."""
    for address in filter(None, (part.strip() for part in addresses.split(","))):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            return f"{address!r} is not host:port"
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT_S).close()
        except OSError as error:
            return f"{address} refused a connection: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one check; print the reason and return 1 when it fails."""
    parser = argparse.ArgumentParser(description="Paystream container health checks")
    sub = parser.add_subparsers(dest="kind", required=True)
    http = sub.add_parser("http", help="an HTTP endpoint answers 2xx")
    http.add_argument("url")
    http.add_argument("--contains", help="text the body must contain")
    tcp = sub.add_parser("tcp", help="addresses accept TCP connections")
    tcp.add_argument("addresses", help="host:port[,host:port...]")
    args = parser.parse_args(argv)
    reason = (check_http(args.url, args.contains) if args.kind == "http"
              else check_tcp(args.addresses))
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
