"""A pre-flight check that every peer of a multi-worker job is up, with a deadline.

Creating ``tf.distribute.MultiWorkerMirroredStrategy`` blocks until every worker
has joined, forever if one never arrives, and it blocks inside TensorFlow while
holding the Python GIL, so it cannot be abandoned from a thread. So before it is
created, each process listens on its own ``TF_CONFIG`` port with a plain TCP
socket and waits until it can connect to every peer's port (a peer's own
pre-flight listener or, once that peer went on, its TensorFlow server). Only
then does it close its listener and let TensorFlow take the port.
"""

from __future__ import annotations

import socket
import threading
import time

from transferlab.errors import DistributionError, WorkerTimeoutError, describe
from transferlab.training.tf_config import TFConfig

__all__ = ["wait_for_workers"]


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _reachable(address: str) -> bool:
    host, port = _split(address)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class _Listener:
    """Accepts and drains connections on a port until closed (peer closes first)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_server(("", port), reuse_port=False)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="transferlab-rendezvous")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1.0)
            try:
                conn.recv(1)  # returns b"" when the peer closes: TIME_WAIT stays on its side
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def wait_for_workers(
    config: TFConfig,
    timeout: float,
    *,
    poll: float = 0.1,
    source: str = "TF_CONFIG",
    port_fix: str = "free that port, or give this worker a free port in TF_CONFIG",
) -> float:
    """Waits until every peer in ``config`` accepts a TCP connection.

    Args:
        config: The checked ``TF_CONFIG`` of this process.
        timeout: Seconds to wait for all peers.
        poll: Seconds between connection attempts.
        source: Where the addresses come from, as the messages name it.
        port_fix: The fix the message gives when this process's port is taken.

    Returns:
        The seconds it took.

    Raises:
        DistributionError: This process cannot listen on its own port.
        WorkerTimeoutError: Some peers did not answer in time; the message
            names them.

    Example:
        >>> cfg = TFConfig.parse('{"cluster": {"worker": ["127.0.0.1:0"]},'
        ...                      ' "task": {"type": "worker", "index": 0}}')
        >>> wait_for_workers(cfg, timeout=1.0) < 1.0
        True
    """
    start = time.monotonic()
    peers = list(config.peers)
    if not peers:
        return 0.0
    try:
        listener = _Listener(_split(config.own_address)[1])
    except OSError as err:
        raise DistributionError(
            describe(
                f"cannot listen on this worker's own {source} address {config.own_address!r} ({err})",
                received=f"task={config.task_type}:{config.task_index}",
                fix=port_fix,
            )
        ) from None
    try:
        missing = peers
        while True:
            missing = [p for p in missing if not _reachable(p)]
            if not missing:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise WorkerTimeoutError(
                    describe(
                        f"{len(missing)} of {len(peers)} peer worker(s) did not join within "
                        f"{timeout:g} s: {', '.join(missing)}",
                        received=f"this task={config.task_type}:{config.task_index} ({config.own_address})",
                        fix=f"start every worker of the job (same {source} cluster, its own task), "
                        "check the hosts and ports and any firewall, or raise `timeout`",
                    )
                )
            time.sleep(poll)
    finally:
        listener.close()
