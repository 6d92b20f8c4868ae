"""Writing files atomically: the data goes to a temporary file in the target's folder, which then
replaces the target in one rename. An interrupted write leaves the old file (or none), never half
of one; a failed one leaves nothing behind. The one writer every file of this project goes through."""
import contextlib
import os
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, durable=False):
    """Yields a temporary path beside ``path`` (its folder is created). When the block ends normally
    the file written there replaces ``path`` (flushed to disk first with ``durable``); when it raises,
    the temporary file is removed."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        if durable:
            with open(tmp, 'rb+') as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write(path, data, durable=True):
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically."""
    with atomic_path(path, durable) as tmp, open(tmp, 'wb') as f:
        f.write(data.encode('utf-8') if isinstance(data, str) else data)


def remove_stale_temporaries(folder):
    """Remove the temporary files a writer killed mid-write (SIGKILL, a lost node) left in ``folder``;
    returns their names. Only for a folder no other process is writing."""
    if not os.path.isdir(folder):
        return []
    stale = [n for n in os.listdir(folder) if n.startswith('.') and n.endswith('.tmp')
             and os.path.isfile(os.path.join(folder, n))]
    for name in stale:
        os.remove(os.path.join(folder, name))
    return stale
