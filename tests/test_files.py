"""ground.files: a file is replaced whole or not at all, and no temporary is left behind either way."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    from ground.files import atomic_write_json, replacing

    path = tmp_path / "deep" / "state.json"
    atomic_write_json(path, {"done": 1}, durable=True)
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text('{"done": ')  # a writer that dies half way
        raise RuntimeError("killed")
    assert json.loads(path.read_text()) == {"done": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_a_suffix_lets_writers_that_name_by_format_write_the_temporary(tmp_path):
    from ground.files import replacing

    path = tmp_path / "c00001.npz"
    with replacing(path, suffix=".npz") as tmp:
        np.savez(tmp, lips=np.arange(3))  # np.savez appends .npz to any other name
    with np.load(path) as z:
        assert z["lips"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["c00001.npz"]
