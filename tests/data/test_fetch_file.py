"""Tests of fetch_file against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from http_mirror import HttpMirror, refused_url  # tests/helpers (see the root conftest)

from transferlab.data.fetch_file import fetch_file
from transferlab.errors import ChecksumError, ConfigError, DownloadError

CONTENT = bytes(range(256)) * 400  # 100 KiB
SHA = hashlib.sha256(CONTENT).hexdigest()
FILES = {"data.bin": CONTENT}


def _fetch(cache: Path, mirrors: list[str], **kwargs: object) -> Path:
    kwargs.setdefault("retries", 0)
    kwargs.setdefault("progress", False)
    return fetch_file("data.bin", sha256=SHA, mirrors=mirrors, cache_dir=cache, **kwargs)  # type: ignore[arg-type]


def test_downloads_verifies_and_places_file(tmp_path: Path) -> None:
    cache = tmp_path / "new" / "cache"
    with HttpMirror(FILES) as mirror:
        path = _fetch(cache, [mirror.url.rstrip("/")])  # a '/' is added when missing
    assert path == cache / "data.bin" and path.read_bytes() == CONTENT
    assert mirror.requests == ["/data.bin"]
    assert sorted(p.name for p in cache.iterdir()) == ["data.bin"]  # no temp folder left


def test_cached_file_is_verified_and_used_without_network(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(CONTENT)
    with HttpMirror(FILES) as mirror:
        assert _fetch(tmp_path, [mirror.url]) == tmp_path / "data.bin"
    assert mirror.requests == []


def test_corrupt_cached_file_is_reported_never_used(tmp_path: Path) -> None:
    bad = CONTENT[:-1] + b"\x00"
    (tmp_path / "data.bin").write_bytes(bad)
    with (
        HttpMirror(FILES) as mirror,
        pytest.raises(
            ChecksumError,
            match=rf"The cached file {tmp_path / 'data.bin'} is corrupt or not the published "
            rf"data\.bin.*was not used.*Received: sha256 {hashlib.sha256(bad).hexdigest()}"
            rf".*Accepted: sha256 {SHA}.*Fix: delete .*data\.bin and call again",
        ),
    ):
        _fetch(tmp_path, [mirror.url])
    assert mirror.requests == []
    assert (tmp_path / "data.bin").read_bytes() == bad  # left for the user to inspect


@pytest.mark.parametrize("mode", ["corrupt", "drop", "missing", "error"])
def test_bad_mirror_then_next_mirror(tmp_path: Path, mode: str) -> None:
    with HttpMirror(FILES, mode=mode) as bad, HttpMirror(FILES) as good:
        path = _fetch(tmp_path, [bad.url, good.url], retries=1)
    assert path.read_bytes() == CONTENT
    # Network-type failures are retried; a 404 or a checksum mismatch is not.
    assert len(bad.requests) == (2 if mode in ("drop", "error") else 1)
    assert good.requests == ["/data.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_refused_mirror_then_next_mirror(tmp_path: Path) -> None:
    with HttpMirror(FILES) as good:
        assert _fetch(tmp_path, [refused_url(), good.url]).read_bytes() == CONTENT


def test_every_mirror_fails(tmp_path: Path) -> None:
    down = refused_url()
    with (
        HttpMirror(FILES, mode="corrupt") as corrupt,
        HttpMirror(FILES, mode="drop") as drop,
        HttpMirror(FILES, mode="missing") as missing,
        pytest.raises(DownloadError) as info,
    ):
        _fetch(tmp_path, [corrupt.url, drop.url, down, missing.url])
    text = str(info.value)
    assert "Could not download data.bin from any of the 4 mirrors (1 attempt(s) each)" in text
    assert f"{corrupt.url}data.bin -> sha256 mismatch (got " in text
    assert f"{drop.url}data.bin -> connection closed after 51200 of 102400 bytes" in text
    assert f"{down}data.bin -> [Errno 111] Connection refused" in text
    assert f"{missing.url}data.bin -> HTTP 404 Not Found" in text
    assert (
        f"Fix: check the network or proxy and try again, or download data.bin yourself "
        f"(sha256 {SHA}) and place it at {tmp_path / 'data.bin'}" in text
    )
    assert list(tmp_path.iterdir()) == []  # nothing left behind, not even temp folders


def test_stalled_mirror_times_out(tmp_path: Path) -> None:
    with HttpMirror(FILES, mode="stall", stall_seconds=1.0) as stall:
        with pytest.raises(DownloadError, match=r"timed out \(no data for 0\.3 s\)"):
            _fetch(tmp_path, [stall.url], timeout=0.3)
    assert list(tmp_path.iterdir()) == []


def test_file_url_mirror_and_progress_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "data.bin").write_bytes(CONTENT)
    path = _fetch(tmp_path / "cache", [source.as_uri()], progress=True)
    assert path.read_bytes() == CONTENT
    assert f"Downloading {source.as_uri()}/data.bin" in capsys.readouterr().out


def test_no_mirrors_and_no_cached_file(tmp_path: Path) -> None:
    with pytest.raises(
        DownloadError,
        match=r"data\.bin is not in the cache .* and no mirrors were "
        r"given.*Fix: pass mirrors=\[\.\.\.\], or download data\.bin yourself",
    ):
        _fetch(tmp_path, [])


def test_unwritable_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(DownloadError, match=r"Cannot write into the cache folder .*file/sub"):
        _fetch(blocker / "sub", ["http://127.0.0.1:1/"])


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"filename": "a/b.bin"}, r"`filename` must be a plain file name.*'a/b\.bin'"),
        ({"sha256": "abc"}, r"`sha256` must be 64 hexadecimal digits.*sha256='abc'"),
        ({"mirrors": "http://x/"}, r"`mirrors` must be a list of base URLs, not one string"),
        ({"mirrors": ["ftp://x/"]}, r"http, https or file URL.*mirror='ftp://x/'"),
        ({"retries": -1}, r"`retries` must be an integer >= 0.*retries=-1"),
        ({"timeout": 0}, r"`timeout` must be a positive number.*timeout=0"),
    ],
)
def test_argument_errors(tmp_path: Path, kwargs: dict[str, object], pattern: str) -> None:
    arguments: dict[str, object] = {
        "filename": "data.bin",
        "sha256": SHA,
        "mirrors": [],
        "cache_dir": tmp_path,
    }
    arguments.update(kwargs)
    with pytest.raises(ConfigError, match=pattern):
        fetch_file(**arguments)  # type: ignore[arg-type]


def test_a_full_disk_is_a_storage_error_not_a_network_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import sys

    from transferlab.errors import StorageError

    module = sys.modules["transferlab.data.fetch_file"]  # the package exports the function of that name

    source = tmp_path / "src"
    source.mkdir()
    (source / "data.bin").write_bytes(CONTENT)

    def full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.os, "replace", full)
    with pytest.raises(StorageError, match=r"Cannot write .*data.bin: the disk is full"):
        _fetch(tmp_path / "cache", [source.as_uri(), source.as_uri()], retries=2)
    assert list((tmp_path / "cache").iterdir()) == []  # no partial file, no temp folder
