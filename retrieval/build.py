"""``dubber library build``: perceive, caption, embed and upsert every clip of a corpus into the library.

* **Resumable and idempotent.** Rows are keyed by clip id; a clip whose row was made by the current
  extractor version is skipped, one made by another version is redone, and a rerun of a finished build
  writes nothing. Clips that failed before are tried again (the file may have been fixed); a clip that
  now succeeds leaves the failed table.
* **Bad clips do not stop the build.** A clip whose perception fails (corrupt video, silent audio...) is
  recorded in ``failed_clips`` with the reason and skipped. A missing model or package
  (``MissingComponentError``) stops the build: no clip could succeed.
* **One writer.** Perception runs in this process, or with ``workers > 1`` as Ray tasks (one CPU each);
  captions, embeddings and every write stay in the driver, in batches of ``library.batch_size`` rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from corpora.records import ClipRecord
from ground.config import DubberConfig, get_config
from ground.errors import BadInputError, DubberError, MissingComponentError
from retrieval.extract import PerceivedClip, RowMaker, perceive_record
from retrieval.library import ReferenceLibrary

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    uri: str
    source: str
    clips: int  # clips the source yielded (after --split / --limit)
    written: int = 0  # rows made in this run
    redone: int = 0  # ... of which replaced a row from another extractor version
    skipped: int = 0  # already done with the current extractor version
    failed: int = 0
    failed_clips: list[dict] = field(default_factory=list)
    rows: int = 0  # rows in the table afterwards
    use_llm: bool = False
    workers: int = 1
    extractor_version: str = ""
    seconds: float = 0.0
    perception_seconds: float = 0.0  # summed over clips (with workers > 1, more than wall time)
    caption_seconds: float = 0.0  # captions + embeddings + writes, in the driver
    captions: dict[str, int] = field(default_factory=dict)
    indexed: bool = False

    @property
    def clips_per_minute(self) -> float:
        return 60.0 * self.written / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "clips_per_minute": round(self.clips_per_minute, 2)}


def _read_source(source: str | Path | Sequence[ClipRecord], split: str | None) -> list[ClipRecord]:
    if isinstance(source, str | Path):
        from corpora.readers import read_corpus

        return read_corpus(source, split=split)
    records = list(source)
    return [r for r in records if split is None or r.split == split]


def _dedupe(records: list[ClipRecord]) -> list[ClipRecord]:
    seen: set[str] = set()
    out = []
    for r in records:
        if r.clip_id in seen:
            log.warning("clip id %r appears more than once in the source; keeping the first", r.clip_id)
            continue
        seen.add(r.clip_id)
        out.append(r)
    return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DubberError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:400]


# ------------------------------------------------------------------------------------ perception stage
_perceiver = None


def _perceive_safe(record: ClipRecord) -> PerceivedClip | dict:
    """A ``PerceivedClip``, or {"reason": ...} for a clip that cannot be used (never raises for one).

    ``MissingComponentError`` is returned as {"missing": ...}: the driver stops the build with it."""
    global _perceiver
    try:
        if _perceiver is None:
            from perception.pipeline import ClipPerceiver

            _perceiver = ClipPerceiver()
        return perceive_record(record, _perceiver)
    except MissingComponentError as exc:
        return {"missing": exc}
    except Exception as exc:  # noqa: BLE001 - any failure of one clip is that clip's, recorded with its reason
        log.debug("perception of %s failed", record.clip_id, exc_info=True)
        return {"reason": _reason(exc)}


def _ray_task(record: ClipRecord, config: dict) -> PerceivedClip | dict:
    """Runs in a Ray worker: the driver's configuration first, then the clip."""
    from ground.runtime import worker_config

    worker_config(config)  # one CPU per task: one torch/BLAS thread
    return _perceive_safe(record)


def _local(records: Sequence[ClipRecord]) -> Iterator[tuple[ClipRecord, PerceivedClip | dict]]:
    for r in records:
        yield r, _perceive_safe(r)


def _start_ray(workers: int, address: str | None) -> bool:
    """Start a local Ray with ``workers`` CPUs (or join ``address``); False when Ray was already running."""
    import warnings

    import ray

    from ground.runtime import WORKER_ENV, start_local_ray

    if ray.is_initialized():
        return False
    with warnings.catch_warnings():
        # Ray starts its processes by fork + exec, which LanceDB's fork hook cannot tell from a bare fork
        warnings.filterwarnings("ignore", message="lancedb fork support")
        if address is None:
            # a local instance's workers inherit this process's environment
            start_local_ray(workers, log_to_driver=False)
        else:
            # a cluster's workers need the environment passed (it costs each new worker a few seconds)
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                     runtime_env={"env_vars": WORKER_ENV})  # fmt: skip
    return True


def _ray(
    records: Sequence[ClipRecord], workers: int, config: DubberConfig
) -> Iterator[tuple[ClipRecord, PerceivedClip | dict]]:
    """Perception as Ray tasks (one CPU each), at most 2 x workers in flight; results as they finish."""
    import ray

    task = ray.remote(num_cpus=1, max_retries=1)(_ray_task)
    conf = config.model_dump(mode="json")
    pending: dict[Any, ClipRecord] = {}
    queue = list(reversed(records))
    while queue or pending:
        while queue and len(pending) < 2 * workers:
            r = queue.pop()
            pending[task.remote(r, conf)] = r
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            r = pending.pop(ref)
            try:
                yield r, ray.get(ref)
            except ray.exceptions.RayError as exc:  # a worker died (out of memory...): that clip fails
                yield r, {"reason": f"Ray worker failed: {_reason(exc)}"}


# ------------------------------------------------------------------------------------------- the build
def build_library(
    source: str | Path | Sequence[ClipRecord],
    uri: str | Path | None = None,
    *,
    use_llm: bool = True,
    workers: int = 1,
    split: str | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    ray_address: str | None = None,
    config: DubberConfig | None = None,
) -> BuildReport:
    """Build or update the library at ``uri`` from ``source`` (a corpus folder or clip records)."""
    cfg = config or get_config()
    t0 = time.perf_counter()
    records = _dedupe(_read_source(source, split))
    if limit is not None:
        records = records[: max(0, int(limit))]
    if not records:
        raise BadInputError(
            "the source has no clips" + (f" in split {split!r}" if split else ""), source=source
        )
    workers = max(1, int(workers))
    lib = ReferenceLibrary.open(uri, create=True, config=cfg)
    maker = RowMaker(use_llm=use_llm, config=cfg)
    report = BuildReport(
        uri=lib.uri,
        source=str(source) if isinstance(source, str | Path) else f"{len(records)} records",
        clips=len(records),
        use_llm=maker.use_llm,
        workers=workers,
        extractor_version=maker.version,
    )
    done = lib.versions()
    todo = [r for r in records if done.get(r.clip_id) != maker.version]
    report.skipped = len(records) - len(todo)
    stale = {r.clip_id for r in todo if r.clip_id in done}
    if report.skipped:
        log.info(
            "%d of %d clips are already in the library with this extractor version",
            report.skipped,
            len(records),
        )
    if stale:
        log.info("%d rows from another extractor version will be redone", len(stale))
    batch_size = int(batch_size or cfg.library.batch_size)

    use_ray = bool(todo) and (workers > 1 or ray_address is not None)
    ray_started = _start_ray(workers, ray_address) if use_ray else False
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="library", unit="clip", disable=not progress, dynamic_ncols=True)
    batch: list[PerceivedClip] = []
    failures: list[dict] = []

    def flush() -> None:
        nonlocal batch, failures
        t = time.perf_counter()
        if batch:
            rows = maker.rows(batch)
            lib.upsert(rows)
            lib.clear_failures([r["clip_id"] for r in rows])
            report.written += len(rows)
            report.redone += sum(r["clip_id"] in stale for r in rows)
        if failures:
            lib.record_failures(failures)
            report.failed += len(failures)
            report.failed_clips += [{k: f[k] for k in ("clip_id", "reason")} for f in failures]
        report.caption_seconds += time.perf_counter() - t
        batch, failures = [], []

    stream = _ray(todo, workers, cfg) if use_ray else _local(todo)
    try:
        for record, result in stream:
            if isinstance(result, dict) and "missing" in result:
                raise result["missing"]
            if isinstance(result, dict):
                log.warning("%s: skipped: %s", record.clip_id, result["reason"])
                failures.append(
                    {
                        "clip_id": record.clip_id,
                        "source": str(record.video_path),
                        "reason": result["reason"],
                        "extractor_version": maker.version,
                    }
                )
            else:
                report.perception_seconds += result.seconds
                batch.append(result)
            if len(batch) + len(failures) >= batch_size:
                flush()
            bar.update(1)
            bar.set_postfix(failed=report.failed + len(failures), refresh=False)
        flush()
    finally:
        bar.close()
        stream.close()
        if ray_started:
            import ray

            ray.shutdown()
    report.captions = maker.captions.stats()
    if report.written:
        lib.optimize()
        report.indexed = lib.ensure_index()
    lib.set_meta(
        {
            "extractor_version": maker.version,
            "use_llm": "true" if maker.use_llm else "false",
            "last_source": report.source,
            "last_build_at": f"{time.time():.0f}",
        }
    )
    report.rows = lib.count()
    report.seconds = time.perf_counter() - t0
    log.info(
        "library %s: %d written (%d redone), %d skipped, %d failed; %d rows; %.1f clips/min",
        lib.uri, report.written, report.redone, report.skipped, report.failed, report.rows,
        report.clips_per_minute,
    )  # fmt: skip
    return report
