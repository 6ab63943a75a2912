"""Starting Ray the one way every room does it (the server, batch localisation, the library build)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

# What a Ray worker on a cluster node needs set (its environment is that node's, not the driver's): one
# torch/BLAS thread per process (a stage actor has one CPU) and no hub access.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def start_local_ray(num_cpus: int | None = None, attempts: int = 5, **init_kwargs) -> None:
    """A private Ray instance on this machine with ``num_cpus`` CPUs (None: all), never a cluster that
    `ray start` left running here (``address="local"``); no dashboard, warnings only. Ray waits a fixed 30 s
    for its raylet, too little on a loaded machine: a start that times out is tried again."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a cluster of our own: Ray's token is for shared ones
    for attempt in range(attempts):
        try:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="WARNING",
                     **init_kwargs)  # fmt: skip
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise
            log.warning("Ray did not start in time (a busy machine?); trying again")
            ray.shutdown()
