"""Test hosts on this machine: each a network namespace of its own (``ip netns``) joined to the
machine by a veth pair, with its own address and nothing else; traffic stays inside the machine.
A host reaches PostgreSQL, the broker and the S3 server (which listen on loopback only) through
TCP forwarders on its link's far end, as it would reach them across a network. ``cut`` takes the
link down: the host's connections go silent (no reset, no close), as a pulled cable or a
partition leaves them; ``mend`` brings it back."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from urllib.parse import urlsplit, urlunsplit

from tests.service.faults import TcpProxy


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(("netns", "exec", netns, "ip") if netns else ()), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


class NetHost:
    """One namespace ``sc<tag><n>``: its side of the link is ``10.<net>.<n>.2/30``, the
    machine's side ``.1``."""

    def __init__(self, tag: str, number: int, net: int) -> None:
        self.name = f"sc{tag}{number}"
        self.outside = f"{self.name}o"  # the machine's end of the link
        self.inside = f"{self.name}i"
        self.machine_ip = f"10.{net}.{number}.1"
        self.ip = f"10.{net}.{number}.2"
        self.proxies: list[TcpProxy] = []
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.outside, "type", "veth", "peer", "name", self.inside)
            _ip("link", "set", self.inside, "netns", self.name)
            _ip("addr", "add", f"{self.machine_ip}/30", "dev", self.outside)
            _ip("link", "set", self.outside, "up")
            _ip("addr", "add", f"{self.ip}/30", "dev", self.inside, netns=self.name)
            _ip("link", "set", self.inside, "up", netns=self.name)
            _ip("link", "set", "lo", "up", netns=self.name)
        except RuntimeError:
            self.remove()
            raise

    @property
    def wrap(self) -> tuple[str, ...]:
        """The command prefix that runs a process on this host."""
        return ("ip", "netns", "exec", self.name)

    def reach(self, port: int) -> int:
        """A port on the machine's end of the link that forwards to loopback ``port``."""
        proxy = TcpProxy(port, listen=self.machine_ip)
        self.proxies.append(proxy)
        return proxy.port

    def url(self, url: str) -> str:
        """``url`` (a loopback service's) as this host reaches it."""
        parts = urlsplit(url)
        netloc = parts.netloc.replace(
            f"{parts.hostname}:{parts.port}", f"{self.machine_ip}:{self.reach(parts.port)}"
        )
        return urlunsplit(parts._replace(netloc=netloc))

    def cut(self) -> None:
        _ip("link", "set", self.outside, "down")

    def mend(self) -> None:
        _ip("link", "set", self.outside, "up")

    def remove(self) -> None:
        for proxy in self.proxies:
            proxy.stop()
        # Processes still in the namespace would keep it; the test stops its own first.
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.outside], capture_output=True)


def make_hosts(count: int) -> list[NetHost]:
    """``count`` test hosts on a /16 of 10/8 picked at random, so runs side by side do not meet."""
    tag = secrets.token_hex(2)
    net = 100 + int(tag, 16) % 150
    hosts: list[NetHost] = []
    try:
        for number in range(1, count + 1):
            hosts.append(NetHost(tag, number, net))
    except RuntimeError:
        for host in hosts:
            host.remove()
        raise
    return hosts


def host_env(env: dict[str, str], host: NetHost, keys: tuple[str, ...]) -> dict[str, str]:
    """The stack's settings with each of ``keys`` (URLs of loopback services) as ``host``
    reaches them."""
    return {**env, **{key: host.url(env[key]) for key in keys}}


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
