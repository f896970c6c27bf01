"""Reaching a Dask cluster (``--cluster ADDRESS``): the address checked, a client made (a
local cluster started for ``local[:N]``, with :data:`LOCAL_CONFIG`), Dask's own log lines off
while it is used, and what goes wrong as one :class:`ClusterError` line.
Part of :mod:`lookalike.face.cluster`, which sends the photos."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from lookalike.errors import LookalikeError

#: Dask settings of a local cluster (``local[:N]``), whose scheduler and nannies share this
#: machine's cores with the workers, so their background work is work the workers do not do.
LOCAL_CONFIG = {
    # One batch per worker thread at a time (no batches queued on a worker): a worker that
    # dies takes only its own batch with it, so a photo that crashes workers is found.
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.work-stealing": False,  # nothing to steal: no queue on workers
    "distributed.worker.profile.enabled": False,  # each worker sampled its stack every 10 ms
    "distributed.admin.system-monitor.interval": "5s",  # for the dashboard (CPU, network)
    "distributed.admin.system-monitor.disk": False,
    "distributed.worker.memory.monitor-interval": "1s",  # the nannies' memory-limit check
}


class ClusterError(LookalikeError):
    """The cluster cannot be reached, was lost, or runs other model versions."""


def parse_address(address: str) -> tuple[str, int | None]:
    """``("local", N or None)`` or ``("remote", address)``-style check; raises
    :class:`ClusterError` for what is neither."""
    a = address.strip()
    if a == "local":
        return "local", None
    if a.startswith("local:"):
        n = a.partition(":")[2]
        if n.isdigit() and int(n) > 0:
            return "local", int(n)
        raise ClusterError(f"{address!r} is not a cluster address",
                           fix="use local, local:N (N worker processes) or tcp://HOST:8786")
    if "://" in a or ":" in a:
        return "remote", None
    raise ClusterError(f"{address!r} is not a cluster address",
                       fix="use local, local:N (N worker processes) or tcp://HOST:8786")


def distributed_api():
    from lookalike.errors import require

    return require("distributed", extra="cluster", purpose="--cluster needs Dask distributed",
                   error=ClusterError)


@contextlib.contextmanager
def connect(cluster: Any, *, timeout: float = 10) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster`` (see the module doc), closed afterwards
    (a client passed in is left open)."""
    distributed = distributed_api()
    if isinstance(cluster, distributed.Client):
        yield cluster
        return
    address = str(cluster)
    kind, n = parse_address(address)
    with _quiet():
        yield from _connect(distributed, address, kind, n, timeout)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Dask's own log lines (reconnection attempts, their tracebacks) off while we use it: what
    goes wrong reaches the user as one :class:`ClusterError` line."""
    logs = [logging.getLogger(n) for n in ("distributed", "distributed.client",
                                           "distributed.worker", "distributed.nanny")]
    old = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for log, level in zip(logs, old, strict=True):
            log.setLevel(level)


def _connect(distributed: Any, address: str, kind: str, n: int | None, timeout: float
             ) -> Iterator[Any]:
    local = None
    if kind == "local":
        import dask

        with dask.config.set(LOCAL_CONFIG):
            local = distributed.LocalCluster(
                n_workers=n or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR)
        # results fetched from the workers, not relayed by the scheduler (half the messages)
        client = distributed.Client(local, direct_to_workers=True)
    else:
        try:
            client = distributed.Client(address, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"cannot reach the Dask scheduler ({short_reason(err)})", address,
                               "start it (`dask scheduler`, then `dask worker ADDRESS` on each "
                               "machine) or check the address") from None
    client.lookalike_address = address  # for messages
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=5)
        if local is not None:
            with contextlib.suppress(Exception):
                local.close(timeout=10)


def short_reason(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) < 120 else text[:117] + "..."
