"""The Reference Footage library: a LanceDB table of ``ReferenceRow``s and emotion-similarity retrieval.

``ReferenceLibrary.open(uri)`` connects to any LanceDB URI (a local folder by default, object storage for a
cluster). Writes go through ``upsert`` (a merge-insert on ``clip_id``, so a rebuild replaces rows instead of
adding copies); every vector's length is checked first. Retrieval is per modality: the cosine top-K of a
target's scene, face or text caption vector (DESIGN 1.2), always excluding the target itself and optionally
its film or speaker, filtered by language or speaker in the same query (a LanceDB prefilter, so K results
come back whenever K rows pass the filter). Each hit is a typed ``ground.messages.ReferenceClip`` carrying
the retrieved clip's caption, label and audio emotion vector.

Brute force is exact and fast at corpus sizes; from ``library.index_min_rows`` rows an IVF_PQ index per
caption column is built (``ensure_index``), searched with ``nprobes`` and re-ranked exactly
(``refine_factor``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ground.config import REPO_ROOT, DubberConfig, get_config
from ground.errors import BadInputError, DubberError
from ground.messages import ReferenceClip, ReferencesMessage
from retrieval.schema import (
    FAILED_TABLE,
    META_TABLE,
    SEARCH_MODALITIES,
    VECTOR_DIMS,
    FailedClip,
    MetaRow,
    ReferenceRow,
    check_rows,
    vector_column,
)

if TYPE_CHECKING:
    from perception.features import VisualFeatures
    from retrieval.extract import RowMaker

log = logging.getLogger(__name__)

# what a search reads back besides the distance (never the other 384-d vectors)
_HIT_COLUMNS = ("clip_id", "film", "speaker", "emotion", "audio_vector")


def default_uri(config: DubberConfig | None = None) -> str:
    cfg = config or get_config()
    return cfg.library.db_uri or str(cfg.cache_dir / "library")


SHIPPED_LIBRARY = REPO_ROOT / "assets" / "library"


def search_uri(config: DubberConfig | None = None) -> str:
    """The library to search when none is named: ``library.db_uri``, else the cached default, copied on
    first use from the small prebuilt one that ships in ``assets/library`` (400 training clips of the
    synthetic corpus; ``dubber library subset`` makes it) and copied again when the shipped one changes.
    Builds keep writing to ``default_uri``."""
    cfg = config or get_config()
    if cfg.library.db_uri:
        return cfg.library.db_uri
    cached = Path(default_uri(cfg))
    if SHIPPED_LIBRARY.is_dir():
        sync_shipped_copy(SHIPPED_LIBRARY, cached)
    return str(cached)


SHIPPED_STAMP = ".shipped-fingerprint"
_WARNED_COPIES: set[str] = set()


def folder_fingerprint(folder: Path) -> str:
    """Every file's relative path and size (a LanceDB folder only ever gains files), hashed."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SHIPPED_STAMP):
        h.update(f"{f.relative_to(folder)}\0{f.stat().st_size}\n".encode())
    return h.hexdigest()


def sync_shipped_copy(shipped: Path, cached: Path) -> None:
    """Copy ``shipped`` to ``cached`` when there is no copy, or when the copy is an untouched copy of an
    older shipped library; a copy something has written to since (a build into the default location) is
    left alone with a warning."""
    want = folder_fingerprint(shipped)
    if cached.exists():
        stamp = cached / SHIPPED_STAMP
        made_from = stamp.read_text().strip() if stamp.is_file() else None
        if made_from == want:
            return
        current = folder_fingerprint(cached)
        if made_from is None and current == want:  # a copy made before copies were stamped
            stamp.write_text(want + "\n")
            return
        if made_from is None or current != made_from:
            if str(cached) not in _WARNED_COPIES:
                _WARNED_COPIES.add(str(cached))
                log.warning(
                    "the cached reference library %s differs from the shipped one (%s) and has been "
                    "written to, so it is left as it is; delete it to use the shipped library",
                    cached,
                    shipped,
                )
            return
        log.info("the shipped reference library changed: refreshing the cached copy at %s", cached)
    else:
        log.info("first use: copying the shipped reference library to %s", cached)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(shipped, tmp)
    (tmp / SHIPPED_STAMP).write_text(want + "\n")
    old = cached.with_name(f"{cached.name}.{os.getpid()}.old")
    try:
        if cached.exists():
            os.replace(cached, old)
        os.replace(tmp, cached)
    except OSError:
        if not cached.is_dir():
            raise
        log.info("another process copied the shipped library to %s first", cached)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def sql_str(value: str) -> str:
    """A SQL string literal (LanceDB filters are SQL): quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


class ReferenceLibrary:
    """One LanceDB database holding the reference table and its side tables (failed clips, meta)."""

    def __init__(self, db: Any, uri: str, config: DubberConfig | None = None):
        self.db = db
        self.uri = uri
        self.config = config or get_config()
        self.table_name = self.config.library.table
        self._table = None
        self._indexed: set[str] | None = None  # vector columns with an index, read once
        self._row_makers: dict[bool, RowMaker] = {}

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls, uri: str | Path | None = None, *, create: bool = False, config: DubberConfig | None = None
    ) -> ReferenceLibrary:
        """Connect to ``uri`` (default ``library.db_uri`` or ``<cache_dir>/library``).

        ``create=False`` (searching, reading): the reference table must exist and be readable, else a
        ``BadInputError`` says so and how to build it. ``create=True`` (building): it is made if absent.
        """
        import lancedb

        cfg = config or get_config()
        uri = str(uri) if uri is not None else default_uri(cfg)
        if not create and _is_local(uri) and not Path(uri.removeprefix("file://")).exists():
            raise BadInputError("no reference library here", source=uri, hint=_BUILD_HINT)
        try:
            db = lancedb.connect(uri)
        except (OSError, ValueError, RuntimeError) as exc:
            raise BadInputError(f"cannot open the LanceDB database ({exc})", source=uri) from None
        lib = cls(db, uri, cfg)
        if create:
            with lib._guard("create the reference table"):
                lib._table = db.create_table(lib.table_name, schema=ReferenceRow, exist_ok=True)
                lib._check_schema()
        else:
            lib.table  # noqa: B018 - open now, so a missing or corrupt table fails here with a clear error
        return lib

    @property
    def table(self):
        if self._table is None:
            if not self._has_table(self.table_name):
                raise BadInputError(
                    f"the database has no {self.table_name!r} table", source=self.uri, hint=_BUILD_HINT
                )
            with self._guard("open the reference table"):
                self._table = self.db.open_table(self.table_name)
                self._table.count_rows()  # reads the manifest: a corrupt one fails here
                self._check_schema()
        return self._table

    def _has_table(self, name: str) -> bool:
        with self._guard("list the tables"):
            return name in self._table_names()

    def _table_names(self) -> list[str]:
        listed = self.db.list_tables()
        return list(getattr(listed, "tables", listed))

    def _check_schema(self) -> None:
        have = {f.name: f.type for f in self._table.schema}
        want = {f.name: f.type for f in ReferenceRow.to_arrow_schema()}
        wrong = [n for n, t in want.items() if have.get(n) != t]
        if wrong:
            raise BadInputError(
                f"table {self.table_name!r} does not have the reference schema (columns {', '.join(wrong[:4])})",
                source=self.uri,
                hint="it was made by another version of this program: build into a new --db",
            )

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """LanceDB's low-level errors (a corrupt file, an unreachable bucket) as one actionable line."""
        try:
            yield
        except DubberError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadInputError(
                f"cannot {doing}: the library is missing, corrupt or unreadable ({first[:240]})",
                source=self.uri,
                hint="rebuild it with dubber library build --from SOURCE --db URI",
            ) from exc

    def _side_table(self, name: str, schema: type, create: bool):
        if self._has_table(name):
            with self._guard(f"open the {name} table"):
                return self.db.open_table(name)
        if not create:
            return None
        with self._guard(f"create the {name} table"):
            return self.db.create_table(name, schema=schema, exist_ok=True)

    # -- writing ------------------------------------------------------------------------------------
    def upsert(self, rows: Sequence[dict]) -> int:
        """Insert or replace rows by ``clip_id`` (one merge-insert); refuses a wrong-sized vector."""
        if not rows:
            return 0
        check_rows(rows)
        with self._guard("write rows"):
            (
                self.table.merge_insert("clip_id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(list(rows))
            )
        return len(rows)

    def record_failures(self, failures: Sequence[dict]) -> None:
        """``failures``: dicts with clip_id, source, reason, extractor_version (failed_at is added)."""
        if not failures:
            return
        table = self._side_table(FAILED_TABLE, FailedClip, create=True)
        now = time.time()
        rows = [{**f, "failed_at": f.get("failed_at", now)} for f in failures]
        with self._guard("record failed clips"):
            table.merge_insert("clip_id").when_matched_update_all().when_not_matched_insert_all().execute(
                rows
            )

    def clear_failures(self, clip_ids: Iterable[str]) -> None:
        ids = list(clip_ids)
        table = self._side_table(FAILED_TABLE, FailedClip, create=False) if ids else None
        if table is None:
            return
        with self._guard("update the failed clips"):
            table.delete(f"clip_id IN ({', '.join(sql_str(i) for i in ids)})")

    def failures(self) -> list[dict]:
        table = self._side_table(FAILED_TABLE, FailedClip, create=False)
        if table is None:
            return []
        with self._guard("read the failed clips"):
            return sorted(table.to_arrow().to_pylist(), key=lambda r: r["clip_id"])

    def set_meta(self, values: dict[str, str]) -> None:
        table = self._side_table(META_TABLE, MetaRow, create=True)
        rows = [{"key": k, "value": str(v)} for k, v in values.items()]
        with self._guard("write the library facts"):
            table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(rows)

    def meta(self) -> dict[str, str]:
        table = self._side_table(META_TABLE, MetaRow, create=False)
        if table is None:
            return {}
        with self._guard("read the library facts"):
            return {r["key"]: r["value"] for r in table.to_arrow().to_pylist()}

    def optimize(self) -> None:
        """Compact the small fragments many batch writes leave and drop old versions' files."""
        from datetime import timedelta

        with self._guard("optimise the table"):
            self.table.optimize(
                cleanup_older_than=timedelta(minutes=5)
            )  # readers of older versions keep 5 min

    def ensure_index(self, force: bool = False) -> bool:
        """IVF_PQ (cosine) per caption column once the table has ``library.index_min_rows`` rows; True if
        built. Below that size brute force is exact and fast enough (see README: measured latency)."""
        n = self.count()
        lib = self.config.library
        if n < lib.index_min_rows and not force:
            return False
        partitions = max(1, int(round(np.sqrt(n))))  # LanceDB's guidance: about sqrt(rows) partitions
        for m in SEARCH_MODALITIES:
            with self._guard(f"index {m}_vector"):
                self.table.create_index(
                    metric="cosine",
                    vector_column_name=vector_column(m),
                    index_type="IVF_PQ",
                    num_partitions=partitions,
                    num_sub_vectors=lib.index_sub_vectors,
                    replace=True,
                )
        self._indexed = None
        log.info("built IVF_PQ indexes (%d partitions) on %d rows", partitions, n)
        return True

    def has_index(self, column: str | None = None) -> bool:
        """Whether ``column`` (None: any caption column) has a vector index (asked once per open library)."""
        if self._indexed is None:
            with self._guard("list indexes"):
                self._indexed = {c for ix in self.table.list_indices() for c in ix.columns}
        wanted = [column] if column else [vector_column(m) for m in SEARCH_MODALITIES]
        return any(c in self._indexed for c in wanted)

    # -- reading ------------------------------------------------------------------------------------
    def count(self, where: str | None = None) -> int:
        with self._guard("count rows"):
            return int(self.table.count_rows(where))

    def versions(self) -> dict[str, str]:
        """clip_id -> extractor_version of every row (what a resumed build compares against)."""
        with self._guard("read the clip ids"):
            data = self.table.search().select(["clip_id", "extractor_version"]).limit(None).to_arrow()
        return dict(zip(data["clip_id"].to_pylist(), data["extractor_version"].to_pylist(), strict=True))

    def rows(self, clip_ids: Sequence[str], columns: Sequence[str] | None = None) -> list[dict]:
        """The rows of ``clip_ids`` (in that order; absent ids are skipped)."""
        if not clip_ids:
            return []
        out: dict[str, dict] = {}
        for start in range(0, len(clip_ids), 500):  # keep the IN list short
            chunk = clip_ids[start : start + 500]
            where = f"clip_id IN ({', '.join(sql_str(i) for i in chunk)})"
            with self._guard("read rows"):
                q = self.table.search().where(where).limit(len(chunk))
                if columns is not None:
                    q = q.select(list(dict.fromkeys(["clip_id", *columns])))
                for r in q.to_arrow().to_pylist():
                    out[r["clip_id"]] = r
        return [out[i] for i in clip_ids if i in out]

    def row(self, clip_id: str) -> dict:
        rows = self.rows([clip_id])
        if not rows:
            raise BadInputError(f"clip {clip_id!r} is not in the library", source=self.uri)
        return rows[0]

    def scan(self, columns: Sequence[str], where: str | None = None):
        """A pyarrow table of ``clip_id`` and ``columns`` for every (or every ``where``-filtered) row."""
        with self._guard("read the table"):
            q = self.table.search().select(list(dict.fromkeys(["clip_id", *columns])))
            if where:
                q = q.where(where)
            return q.limit(None).to_arrow()

    def vectors(
        self, columns: Sequence[str], where: str | None = None
    ) -> tuple[list[str], dict[str, np.ndarray]]:
        """All (or the ``where``-filtered) rows' ids and float32 matrices of ``columns`` in one scan."""
        data = self.scan(columns, where)
        ids = data["clip_id"].to_pylist()
        return ids, {c: vector_matrix(data[c]) for c in columns}

    # -- retrieval ----------------------------------------------------------------------------------
    def _where(
        self,
        exclude_ids: Iterable[str],
        exclude_film: str | None,
        exclude_speaker: str | None,
        language: str | None,
        speaker: str | None,
        split: str | Sequence[str] | None,
    ) -> str | None:
        parts = []
        ids = [i for i in exclude_ids if i]
        if ids:
            parts.append(f"clip_id NOT IN ({', '.join(sql_str(i) for i in ids)})")
        if exclude_film is not None:
            parts.append(f"(film IS NULL OR film != {sql_str(exclude_film)})")
        if exclude_speaker is not None:
            parts.append(f"(speaker IS NULL OR speaker != {sql_str(exclude_speaker)})")
        if language is not None:
            parts.append(f"language = {sql_str(language)}")
        if speaker is not None:
            parts.append(f"speaker = {sql_str(speaker)}")
        if isinstance(split, str):
            parts.append(f"split = {sql_str(split)}")
        elif split is not None:
            parts.append(f"split IN ({', '.join(sql_str(s) for s in split)})")
        return " AND ".join(parts) or None

    def search(
        self,
        modality: str,
        vector: Sequence[float] | np.ndarray,
        k: int | None = None,
        *,
        exclude_ids: Iterable[str] = (),
        exclude_film: str | None = None,
        exclude_speaker: str | None = None,
        language: str | None = None,
        speaker: str | None = None,
        split: str | Sequence[str] | None = None,  # one split, or any of several
    ) -> list[ReferenceClip]:
        """Cosine top-``k`` (default ``library.k``) library clips for one modality's caption vector."""
        if modality not in SEARCH_MODALITIES:
            raise BadInputError(
                f"cannot search by {modality!r}", hint="one of " + ", ".join(SEARCH_MODALITIES)
            )
        k = self.config.library.k if k is None else int(k)
        if k <= 0:
            return []
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        column = vector_column(modality)
        dim = VECTOR_DIMS[column]
        if vec.shape[0] != dim or not np.isfinite(vec).all():
            raise BadInputError(
                f"a {modality} query vector must have {dim} finite values, got {vec.shape[0]}"
            )
        where = self._where(exclude_ids, exclude_film, exclude_speaker, language, speaker, split)
        indexed = self.has_index(column)
        hits = self._query(column, modality, vec, k, where, indexed=indexed)
        if indexed and len(hits) < k:
            # an index can miss rows a strict filter leaves; brute force never does
            hits = self._query(column, modality, vec, k, where, indexed=False)
        return [
            ReferenceClip(
                clip_id=h["clip_id"],
                modality=modality,
                similarity=round(1.0 - float(h["_distance"]), 6),
                caption=h[f"{modality}_caption"],
                emotion=h["emotion"],
                audio_emotion=[round(float(v), 6) for v in h["audio_vector"]],
            )
            for h in hits
        ]

    def _query(self, column: str, modality: str, vec: np.ndarray, k: int, where: str | None, indexed: bool):
        lib = self.config.library
        with self._guard(f"search {column}"):
            q = (
                self.table.search(vec, vector_column_name=column)
                .metric("cosine")
                .select([*_HIT_COLUMNS, f"{modality}_caption", "_distance"])
                .limit(k)
            )
            if where:
                q = q.where(where, prefilter=True)
            if indexed:
                q = q.nprobes(lib.nprobes).refine_factor(lib.refine_factor)
            else:
                q = q.bypass_vector_index()
            return q.to_list()

    def retrieve(
        self,
        vectors: dict[str, Sequence[float] | np.ndarray],
        k: int | None = None,
        **filters: Any,
    ) -> dict[str, list[ReferenceClip]]:
        """``search`` for every modality in ``vectors`` (scene, face, text): {modality: K clips}."""
        return {m: self.search(m, v, k, **filters) for m, v in vectors.items() if m in SEARCH_MODALITIES}

    def query_for_clip(
        self,
        clip_id: str,
        k: int | None = None,
        *,
        exclude_same_film: bool = False,
        exclude_same_speaker: bool = False,
        modalities: Sequence[str] = SEARCH_MODALITIES,
        **filters: Any,
    ) -> dict[str, list[ReferenceClip]]:
        """References for a clip already in the library, from its stored vectors (itself excluded)."""
        row = self.row(clip_id)
        exclude = {clip_id, *filters.pop("exclude_ids", ())}
        film = filters.pop("exclude_film", None)
        speaker = filters.pop("exclude_speaker", None)
        return self.retrieve(
            {m: row[vector_column(m)] for m in modalities},
            k,
            exclude_ids=exclude,
            exclude_film=row["film"] if exclude_same_film else film,
            exclude_speaker=row["speaker"] if exclude_same_speaker else speaker,
            **filters,
        )

    def row_maker(self, use_llm: bool | None = None) -> RowMaker:
        """A ``RowMaker`` whose captions match the library's build (LLM or rules), for new targets."""
        from retrieval.extract import RowMaker

        if use_llm is None:
            use_llm = self.meta().get("use_llm", "false") == "true"
        key = bool(use_llm)
        if key not in self._row_makers:  # a RowMaker holds the caption writer: make it once
            self._row_makers[key] = RowMaker(use_llm=key, config=self.config)
        return self._row_makers[key]

    def query_for_inputs(
        self,
        visual: VisualFeatures | None = None,
        text: str | None = None,
        k: int | None = None,
        *,
        use_llm: bool | None = None,
        exclude_ids: Iterable[str] = (),
        **filters: Any,
    ) -> dict[str, list[ReferenceClip]]:
        """References for a new target: its silent clip's visual features (scene, face) and its line
        (text), captioned and embedded the way the library's rows were (``use_llm`` None: as built)."""
        vectors, _ = self.row_maker(use_llm).query_vectors(visual, text)
        return self.retrieve(vectors, k, exclude_ids=exclude_ids, **filters)

    def info(self) -> dict:
        """Row count, labels, versions, failed clips, indexes: what ``dubber library info`` prints."""
        from collections import Counter

        with self._guard("read the library"):
            columns = ["extractor_version", "split", "emotion", "caption_sources"]
            data = self.table.search().select(columns).limit(None).to_arrow()
        sources = Counter()
        for s in data["caption_sources"].to_pylist():
            for part in (s or "").split(","):
                if part:
                    sources[part] += 1
        failures = self.failures()
        return {
            "uri": self.uri,
            "table": self.table_name,
            "rows": data.num_rows,
            "versions": dict(Counter(data["extractor_version"].to_pylist())),
            "splits": dict(Counter(str(s) for s in data["split"].to_pylist())),
            "emotions": dict(Counter(str(s) for s in data["emotion"].to_pylist())),
            "caption_sources": dict(sorted(sources.items())),
            "failed": len(failures),
            "failed_clips": [{k: f[k] for k in ("clip_id", "source", "reason")} for f in failures],
            "indexed": self.has_index(),
            "tables": self._table_names(),
            "meta": self.meta(),
        }


_BUILD_HINT = "build it with: dubber library build --from SOURCE --db URI"


def vector_matrix(column) -> np.ndarray:
    """(n, dim) float32 from a pyarrow fixed-size-list column."""
    col = column.combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(col), col.type.list_size)


def references_message(
    results: dict[str, list[ReferenceClip]], session: str, line: int = 0, take: int = 0
) -> ReferencesMessage:
    """The director's message to the actor: every modality's references, scene then face then text."""
    refs = [clip for m in SEARCH_MODALITIES for clip in results.get(m, [])]
    return ReferencesMessage(session=session, line=line, take=take, references=refs)
