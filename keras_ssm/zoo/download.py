"""Downloading a preset folder from a URL into the cache, atomically.

A preset appears in the cache only complete and verified: its files are
fetched into a hidden temporary folder next to it, each checked against
its sha256 in `metadata.json`, and the folder is renamed into place last.
Any failure removes the temporary folder.
"""

import hashlib
import http.client
import json
import os
import pathlib
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from keras_ssm.zoo.errors import PresetError
from keras_ssm.zoo.verify import CONFIG_FILE, METADATA_FILE, check_config, check_files, check_metadata

TIMEOUT_S = 60
# metadata.json is read into memory before its size is known; real ones are a few kB.
MAX_METADATA_BYTES = 1 << 22
_CHUNK = 1 << 20


def cache_home():
    """The folder downloaded presets are kept in: `$KERAS_SSM_HOME/presets`,
    `~/.keras/keras_ssm/presets` by default."""
    home = os.environ.get("KERAS_SSM_HOME") or os.path.join("~", ".keras", "keras_ssm")
    return pathlib.Path(home).expanduser() / "presets"


def _base_url(url):
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/" + METADATA_FILE):
        path = path[: -len(METADATA_FILE) - 1]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _file_url(base, name):
    parts = urllib.parse.urlsplit(base)
    path = parts.path + "/" + urllib.parse.quote(name)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def cache_folder(url):
    """The cache folder of the preset at `url`: the last part of its path
    and a hash of the whole URL, so that two URLs never share a folder.

    >>> cache_folder("https://example.com/presets/s4d_tiny/").name
    's4d_tiny-2654cd3d4b5a5ae3'
    """
    base = _base_url(url)
    tail = urllib.parse.unquote(urllib.parse.urlsplit(base).path.rsplit("/", 1)[-1])
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", tail).strip("._")[:64] or "preset"
    digest = hashlib.sha256(base.encode("utf-8")).hexdigest()[:16]
    return cache_home() / f"{slug}-{digest}"


def _fetch(url, name, path, expected=None, limit=None):
    """Streams `url` into `path` (inside the temporary folder); checks the
    sha256 if `expected`."""
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(path, "xb") as file:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                size += len(chunk)
                if limit is not None and size > limit:
                    raise PresetError(f"{url} is larger than {limit} bytes: it is not a preset's {name}.")
                digest.update(chunk)
                file.write(chunk)
    except urllib.error.HTTPError as error:
        raise PresetError(
            f"Could not download the preset file {name!r} from {url}: HTTP {error.code} {error.reason}. "
            f"Check that the URL is a preset folder holding {METADATA_FILE} and every file it lists, "
            "then load it again. Nothing was kept in the cache."
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise PresetError(
            f"Could not download the preset file {name!r} from {url}: {reason}. Check the URL and the "
            "network, then load it again. Nothing was kept in the cache."
        ) from None
    if expected is not None and digest.hexdigest() != expected:
        raise PresetError(
            f"The preset file {name!r} downloaded from {url} is damaged or incomplete: its sha256 is "
            f"{digest.hexdigest()}, but {METADATA_FILE} lists {expected}. Download it again; if this "
            "persists, the copy at that URL is broken: ask its publisher to re-save the preset. "
            "Nothing was kept in the cache."
        )


def _verified(folder):
    """Whether `folder` holds a complete preset whose files match its metadata."""
    try:
        with open(folder / METADATA_FILE, encoding="utf-8") as file:
            metadata = check_metadata(json.load(file))
        check_files(folder, metadata)
    except (OSError, ValueError):
        return False
    return True


def _download_into(base, temp):
    metadata_path = temp / METADATA_FILE
    _fetch(_file_url(base, METADATA_FILE), METADATA_FILE, metadata_path, limit=MAX_METADATA_BYTES)
    try:
        with open(metadata_path, encoding="utf-8") as file:
            metadata = json.load(file)
    except ValueError as error:
        raise PresetError(
            f"{METADATA_FILE} at {base} is not JSON ({error}): is the URL a preset folder? Nothing was "
            "kept in the cache."
        ) from None
    broken = (
        f"The preset at {base} is broken: ask its publisher to save it again with "
        "keras_ssm.zoo.save_preset. Nothing was kept in the cache."
    )
    # Names are checked before any of them is fetched or written.
    try:
        check_metadata(metadata, where=f"{METADATA_FILE} at {base}")
    except PresetError as error:
        raise PresetError(f"{error} {broken}") from None
    for name, expected in metadata["files"].items():
        destination = temp.joinpath(*name.split("/"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        part = destination.with_name(destination.name + ".part")
        _fetch(_file_url(base, name), name, part, expected=expected)
        os.replace(part, destination)
    # The cache keeps only presets that load: a config naming a foreign class is refused here.
    try:
        with open(temp / CONFIG_FILE, encoding="utf-8") as file:
            config = json.load(file)
        check_config(config, where=f"{CONFIG_FILE} at {base}")
    except PresetError as error:
        raise PresetError(f"{error} {broken}") from None
    except ValueError as error:
        raise PresetError(f"{CONFIG_FILE} at {base} is not JSON ({error}). {broken}") from None


def download_preset(url):
    """The cache folder of the preset at `url` (a `file://`, `http://` or
    `https://` URL of a preset folder, or of its `metadata.json`),
    downloading it if the cache has no complete verified copy.

    `metadata.json` is fetched first, then every file it lists under
    `files`, each verified against its sha256 before it is kept; the cache
    folder appears only once all of them are there. Uses no network when
    the cached copy is complete and verified; a damaged cached copy is
    downloaded anew.

    Raises:
        PresetError: the download or a check failed; nothing of it is
            left in the cache.
    """
    base = _base_url(url)
    folder = cache_folder(url)
    cached = folder.exists()
    if cached and _verified(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.download-", dir=folder.parent))
    try:
        try:
            _download_into(base, temp)
        except PresetError as error:
            if cached:
                raise PresetError(
                    f"{error} The copy already in the cache, {folder}, is damaged too: delete it."
                ) from None
            raise
        if folder.exists():
            # A damaged copy (it failed `_verified`), or one another process has just completed.
            if _verified(folder):
                return folder
            stale = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale-", dir=folder.parent))
            os.replace(folder, stale / folder.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(temp, folder)
        except OSError:
            # Another process put a complete copy there in between.
            if not _verified(folder):
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return folder
