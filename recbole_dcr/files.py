"""Files and folders that appear whole or not at all.

Every writer of the project goes through here: a result table, a checkpoint, a plot, a simulated
or converted dataset.  Each is built under a temporary name beside its destination and renamed into
place only when complete, so a crash (or Ctrl-C) never leaves half a file for a reader to trust.
This module is a leaf: it imports nothing of recbole_dcr.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    ``suffix`` keeps the extension for writers that pick the format from it (matplotlib, pandas).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix + ".tmp", dir=folder)
    os.close(handle)
    try:
        yield tmp_path
        _give_usual_permissions(tmp_path, 0o666)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def remove_stale_temporaries(path):
    """Remove what :func:`atomic_path` left beside ``path`` when its writer was killed (SIGKILL skips the
    cleanup); returns the names removed.  Call it only where no other writer of ``path`` runs."""
    path = os.fspath(path)
    folder, prefix = os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}."
    stale = [name for name in os.listdir(folder) if name.startswith(prefix) and name.endswith(".tmp")]
    for name in stale:
        os.remove(os.path.join(folder, name))
    return stale


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp_path:
        with open(tmp_path, "w", encoding="utf-8") as f:
            f.write(text)


@contextmanager
def atomic_folder(path):
    """Yield a staging folder beside ``path``; on success it replaces ``path`` (and whatever was there).

    On error the staging folder is removed and an existing ``path`` is left as it was.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(os.path.normpath(path))
    staging = tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent)
    try:
        _give_usual_permissions(staging, 0o777)  # mkdtemp makes a private (0700) folder
        yield staging
        if os.path.exists(path):
            retired = os.path.join(parent, f".{name}.replaced-{os.getpid()}")
            os.rename(path, retired)
            os.rename(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _give_usual_permissions(path, mode):
    """mkstemp/mkdtemp create private files; give the result what a plain open() or mkdir() would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)
