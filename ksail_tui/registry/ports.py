"""Loopback port checks, and naming the process that holds a port when a bind would fail.

The registry is only ever published on the IPv4 loopback address, so a port is free when a socket
can bind ``127.0.0.1:<port>``. Finding the holder is best effort: Linux's /proc/net/tcp{,6} gives the
listening socket's inode and /proc/<pid>/fd maps it to a process; elsewhere, or without the
permission to read another user's fds, the holder stays unnamed.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
_TCP_LISTEN = "0A"
_PROC = Path("/proc")


@dataclass(frozen=True)
class PortHolder:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"process {self.pid} ({self.command})"


def port_is_free(port: int) -> bool:
    """True when ``127.0.0.1:<port>`` can be bound now (TIME_WAIT leftovers do not count as held)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def listening_socket_inodes(port: int) -> set[int]:
    """Inodes of the TCP sockets listening on ``port`` on any address, from /proc/net/tcp{,6}."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _TCP_LISTEN:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port:
                inodes.add(int(fields[9]))
    return inodes


def process_arguments(pid: int) -> list[str]:
    """The command line of ``pid`` as its arguments; empty when it is gone or unreadable."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def process_command(pid: int) -> str | None:
    """The command line of ``pid``, or None when it is gone or unreadable."""
    return " ".join(process_arguments(pid)) or None


def find_port_holder(port: int) -> PortHolder | None:
    """The process listening on ``port``, when /proc lets us see it."""
    wanted = {f"socket:[{inode}]" for inode in listening_socket_inodes(port)}
    if not wanted:
        return None
    try:
        processes = [entry for entry in _PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        return None
    for process in processes:
        try:
            descriptors = list((process / "fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = str(descriptor.readlink())
            except OSError:
                continue
            if target in wanted:
                pid = int(process.name)
                return PortHolder(pid=pid, command=process_command(pid) or "unknown command")
    return None
