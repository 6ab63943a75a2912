"""The process environment: models loaded once per process, and Ray started the one way every room does it
(the server, batch localisation, the library build)."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

# The environment variables this project sets, all of them, here. Nothing is ever fetched from a model hub
# at run time: every model ships inside an installed package or is trained and shipped by this project.
PROCESS_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
# What a Ray worker on a cluster node needs set (its environment is that node's, not the driver's): one
# torch/BLAS thread per process (a stage actor has one CPU) and no hub access.
WORKER_ENV = {**PROCESS_ENV, "OMP_NUM_THREADS": "1"}


def apply_env(env: dict[str, str]) -> None:
    """Set each variable unless the user already did."""
    for key, value in env.items():
        os.environ.setdefault(key, value)


def worker_config(config: dict) -> None:
    """A Ray worker (a Serve replica, a batch stage actor, a library build task) runs in its own process: it
    takes the worker environment and the driver's configuration, not its node's."""
    from ground.config import DubberConfig, get_config, set_config

    apply_env(WORKER_ENV)
    if get_config().model_dump(mode="json") != config:
        set_config(DubberConfig.model_validate(config))


def process_wide(factory: Callable[[], T]) -> Callable[[], T]:
    """Decorate a no-argument factory so every call returns the one instance it made first (thread-safe)."""
    lock = threading.Lock()
    made: list[T] = []

    @functools.wraps(factory)
    def get() -> T:
        with lock:
            if not made:
                made.append(factory())
            return made[0]

    return get


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
