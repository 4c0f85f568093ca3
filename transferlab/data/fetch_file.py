"""A verified file in the cache, downloaded from mirrors in turn if it is not there yet.

Why not ``keras.utils.get_file``: it cannot be made safe without changing
process-wide state. It downloads with ``urlretrieve``, which has no timeout (a
stalled mirror hangs forever unless ``socket.setdefaulttimeout`` is changed for
the whole process); its messages and progress bar can only be silenced with
``keras.config.disable_interactive_logging()`` (global); when the cache folder
is not writable it silently switches to ``/tmp/.keras``; a cached file with a
wrong hash is silently re-downloaded instead of reported; and a downloaded
file with a wrong hash is left in place after the ``ValueError``. So the
download below is a small ``urllib`` loop with a timeout, written into a
temporary folder inside the cache, and it shows Keras' own ``Progbar``.

Example:
    >>> import hashlib, tempfile
    >>> from pathlib import Path
    >>> cache = Path(tempfile.mkdtemp())
    >>> _ = (cache / "hello.txt").write_bytes(b"hello")
    >>> digest = hashlib.sha256(b"hello").hexdigest()
    >>> fetch_file("hello.txt", sha256=digest, mirrors=[], cache_dir=cache).name
    'hello.txt'
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from transferlab._atomic import storage_error
from transferlab.errors import ChecksumError, ConfigError, DownloadError, StorageError, describe

__all__ = ["fetch_file"]

_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_SCHEMES = ("http", "https", "file")


class _BadDownload(Exception):
    """A download that arrived but is not the file (short or wrong checksum)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


def fetch_file(
    filename: str,
    *,
    sha256: str,
    mirrors: Sequence[str],
    cache_dir: str | os.PathLike[str],
    retries: int = 2,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Returns ``cache_dir/filename``, verified, downloading it first if needed.

    A file already in the cache is checked against ``sha256`` before use. A
    missing file is downloaded from each mirror in turn (``retries`` extra
    attempts per mirror for network errors) into a temporary folder inside
    ``cache_dir``, checked, then moved into place with ``os.replace``; a short,
    broken or wrong download is deleted and the next mirror is tried. Nothing
    but the verified file is ever left in the cache.

    Args:
        filename: The file's name, in the cache and on the mirrors.
        sha256: Its published SHA-256, 64 hex digits.
        mirrors: Base URLs (``http``, ``https`` or ``file``); the file's URL is
            the base, a ``/`` if missing, and ``filename``.
        cache_dir: The cache folder (created if missing).
        retries: Extra attempts per mirror after a network error (not after
            HTTP 4xx or a checksum mismatch, which another try won't fix).
        progress: Show Keras' progress bar while downloading.
        timeout: Seconds without data after which a connection is abandoned.

    Returns:
        The path of the verified file in ``cache_dir``.

    Raises:
        ChecksumError: The cached file differs from the published one; it is
            not used and not deleted (the message says how to fix it).
        DownloadError: No mirror delivered the file; lists each URL and what
            went wrong, and where to put the file by hand.
        ConfigError: A malformed argument.
    """
    _check_arguments(filename, sha256, mirrors, retries, timeout)
    expected = sha256.lower()
    cache = Path(cache_dir).expanduser()
    target = cache / filename
    if target.is_file():
        actual = _sha256_of(target)
        if actual != expected:
            raise ChecksumError(
                describe(
                    f"The cached file {target} is corrupt or not the published {filename}: "
                    "its sha256 differs, so it was not used",
                    received=f"sha256 {actual}",
                    accepted=f"sha256 {expected}",
                    fix=f"delete {target} and call again to download it anew, or replace it with a good copy",
                )
            )
        return target

    by_hand = f"download {filename} yourself (sha256 {expected}) and place it at {target}"
    if not mirrors:
        raise DownloadError(
            describe(
                f"{filename} is not in the cache ({cache}) and no mirrors were given",
                fix=f"pass mirrors=[...], or {by_hand}",
            )
        )
    try:
        cache.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    except OSError as err:
        raise DownloadError(
            describe(
                f"Cannot write into the cache folder {cache}",
                received=f"{type(err).__name__}: {err}",
                fix="pass a writable cache_dir (or set KERAS_HOME to a writable folder)",
            )
        ) from err

    failures: list[str] = []
    try:
        for mirror in mirrors:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += urllib.parse.quote(filename)
            reasons: list[str] = []
            for attempt in range(retries + 1):
                partial = workdir / filename
                try:
                    actual = _download(url, partial, progress=progress, timeout=timeout)
                    if actual != expected:
                        raise _BadDownload(
                            f"sha256 mismatch (got {actual}, expected {expected})", retry=False
                        )
                except StorageError:  # a local write failed: no other mirror helps
                    partial.unlink(missing_ok=True)
                    raise
                except _BadDownload as err:
                    partial.unlink(missing_ok=True)
                    reasons.append(str(err))
                    if not err.retry:
                        break
                except urllib.error.HTTPError as err:
                    partial.unlink(missing_ok=True)
                    reasons.append(f"HTTP {err.code} {err.reason}")
                    if 400 <= err.code < 500 and err.code not in (408, 429):
                        break
                except (OSError, http.client.HTTPException, ValueError) as err:
                    partial.unlink(missing_ok=True)
                    reasons.append(_network_reason(err, timeout))
                else:
                    try:
                        os.replace(partial, target)
                    except OSError as err:
                        raise storage_error(target, err) from None
                    return target
                if attempt < retries:
                    time.sleep(0.25 * 2**attempt)
            failures.append(f"{url} -> " + "; ".join(reasons))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    raise DownloadError(
        describe(
            f"Could not download {filename} from any of the {len(mirrors)} mirrors "
            f"({retries + 1} attempt(s) each)",
            received=" | ".join(failures),
            fix=f"check the network or proxy and try again, or {by_hand}",
        )
    )


def _check_arguments(
    filename: str, sha256: str, mirrors: Sequence[str], retries: int, timeout: float
) -> None:
    if not filename or "/" in filename or "\\" in filename or filename in (".", ".."):
        raise ConfigError(
            describe(
                "`filename` must be a plain file name, without folders",
                received=f"filename={filename!r}",
                fix="pass the folder as cache_dir and only the name as filename",
            )
        )
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise ConfigError(
            describe(
                "`sha256` must be 64 hexadecimal digits",
                received=f"sha256={sha256!r}",
                fix="compute it with `sha256sum FILE` on a known-good copy",
            )
        )
    if isinstance(mirrors, str):
        raise ConfigError(
            describe(
                "`mirrors` must be a list of base URLs, not one string",
                received=f"mirrors={mirrors!r}",
                fix=f"pass mirrors=[{mirrors!r}]",
            )
        )
    for mirror in mirrors:
        if urllib.parse.urlsplit(str(mirror)).scheme not in _SCHEMES:
            raise ConfigError(
                describe(
                    "Each mirror must be an http, https or file URL",
                    received=f"mirror={mirror!r}",
                    fix="pass base URLs such as 'https://example.org/mnist/'",
                )
            )
    if not isinstance(retries, int) or retries < 0:
        raise ConfigError(describe("`retries` must be an integer >= 0", received=f"retries={retries!r}"))
    if not timeout > 0:
        raise ConfigError(
            describe("`timeout` must be a positive number of seconds", received=f"timeout={timeout!r}")
        )


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, *, progress: bool, timeout: float) -> str:
    """Streams ``url`` into ``dest``; returns the sha256 of what arrived."""
    request = urllib.request.Request(url, headers={"User-Agent": "transferlab"})
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = None
        if progress:
            import keras

            print(f"Downloading {url}", file=sys.stdout, flush=True)
            bar = keras.utils.Progbar(total, verbose=1 if sys.stdout.isatty() else 2, unit_name="B")
        try:
            out = open(dest, "wb")  # noqa: SIM115  (closed below; a local failure is told apart)
        except OSError as err:
            raise storage_error(dest, err) from None
        with out:
            while block := response.read(_CHUNK):
                try:
                    out.write(block)
                except OSError as err:  # the disk, not the network
                    raise storage_error(dest, err) from None
                digest.update(block)
                received += len(block)
                if bar is not None:
                    bar.update(received)
        if total is not None and received != total:
            raise _BadDownload(f"connection closed after {received} of {total} bytes", retry=True)
        if bar is not None:
            bar.update(received, finalize=True)
    return digest.hexdigest()


def _network_reason(err: BaseException, timeout: float) -> str:
    if isinstance(err, TimeoutError) or "timed out" in str(err):
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(err, urllib.error.URLError):
        return f"{err.reason}"
    return f"{type(err).__name__}: {err}"
