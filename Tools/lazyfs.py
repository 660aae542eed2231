#!/usr/bin/env python3
"""lazyfs: a FUSE passthrough filesystem that can lose power, dropping every write since the last
fsync (Tools/chaos.py's `power` fault, Tests/integration/test_power_loss.py).

    Tools/lazyfs.py BACKING MOUNT          # mounts BACKING at MOUNT; control lines on stdin

The model: a page cache that never writes back by itself.
  data       write, truncate/ftruncate, open(O_TRUNC) and fallocate change a file only in lazyfs's
             memory (4 KiB pages plus the file's size). Reads through the mount see them at once,
             whoever reads (read(2) and mmap alike: the kernel's own page cache stays on, filled
             from these reads). They reach the backing file only when that file is fsync'd or
             fdatasync'd: then the backing file is cut to the lowest size the file had since its
             last sync, the changed pages are written, the size set, and the backing file
             fsync'd, all before fsync returns. Closing a file does not sync it.
  metadata   create, mkdir, unlink, rmdir, rename, link, symlink, chmod, chown and utimens go to
             the backing directory at once and stay whatever happens; fsync of a directory is
             an fsync of the backing one.
  power      `lose-power` discards every change not yet synced; from then on every operation
             fails with EIO, and the harness unmounts. The backing directory then holds what
             was fsync'd and every metadata operation, and a new lazyfs over it is the machine
             after the reboot.

How this differs from a real power loss: a real disk and filesystem may also have written back
any part of what was not synced (the kernel writes dirty pages out by itself), may tear a write
at a sector boundary, and may lose metadata operations that no fsync of the directory covered
(a create or rename in the journal not yet committed). lazyfs loses all unsynced data and no
metadata. So it finds a program that relies on data it wrote but did not sync (an acknowledgement
sent before its fsync returned): whenever power goes in that window, the data is gone. It does
not find a missing directory fsync or a torn sector.

Files, not names, hold the unsynced changes (one `Inode` per backing inode), so a rename or a
hard link carries them along; an unlinked file's are dropped with it. Each file has its own lock;
an fsync holds it while it writes the file out, so writes to that file wait for the sync and
writes to others do not. The kernel's page cache stays on (no direct_io), so mmap works too.

Control: one command a line on stdin, one reply a line on stdout, so each reply says the command
took effect (race-free: `lose-power` returns only once no unsynced write can reach the backing
directory any more):
  lose-power   -> "ok lost {"/path": BYTES, ...}": discard every unsynced change (JSON: the files
                  that had some, with the size of their unsynced pages plus how much their size
                  changed), then refuse everything with EIO
  stats        -> "ok files=N unsynced_bytes=B syncs=S writes=W"
  unmount      -> "ok": unmount (lazily, if busy) and exit; unsynced changes are lost
End of stdin counts as `unmount`: lazyfs never outlives the process that drives it. Once mounted
it prints "ok mounted" before any reply. `LazyFS` below drives it from Python.

Needs root, /dev/fuse, Debian's libfuse2 and fusepy (Tools/install-deps.sh installs both).
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import itertools
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PAGE = 4096
# Largest write or read the kernel sends at once (the default without big_writes is one page).
TRANSFER_MAX = 128 * 1024
FALLOC_FL_KEEP_SIZE = 0x01


class Inode:
    """The unsynced state of one backing file (one inode, whatever its names are: a rename keeps
    it). Every field but `opens` is guarded by `lock`; `opens` by `Filesystem.table_lock`. Lock
    order: `Filesystem.table_lock`, then an inode's `lock`.

    The file's content through the mount, at offset x < `size`: the dirty page holding x if there
    is one, else the backing file's byte if x < min(`low`, `synced_size`), else zero. Bytes of a
    dirty page at or past `size` are zero (truncation zeroes them), so growing the file shows
    zeros there as it must."""

    def __init__(self, key: Tuple[int, int], fd: int, name: str) -> None:
        self.key = key
        self.name = name  # the last path it was opened or renamed by (for reports)
        self.fd = fd  # O_RDWR on the backing file, closed when the inode is forgotten
        self.lock = threading.Lock()
        self.opens = 0
        self.synced_size = os.fstat(fd).st_size  # the backing file's size
        self.size = self.synced_size  # the size seen through the mount
        self.low = self.synced_size  # lowest size since the last sync
        self.dirty: Dict[int, bytearray] = {}  # page number -> PAGE bytes
        self.powered = True

    def is_clean(self) -> bool:
        return not self.dirty and self.low == self.synced_size == self.size

    def unsynced_bytes(self) -> int:
        """Changed pages, plus how far the size moved and how much of the synced file a truncation
        cut off (a measure for reports, not an exact count)."""
        assert self.low <= self.synced_size and self.low <= self.size
        return len(self.dirty) * PAGE + abs(self.size - self.synced_size) + (self.synced_size - self.low)

    def check_power(self) -> None:
        if not self.powered:
            raise OSError(errno.EIO, "lazyfs lost power")

    # -- reads ---------------------------------------------------------------------------------

    def _backing(self, start: int, stop: int) -> bytes:
        """Bytes [start, stop) not covered by dirty pages: the backing file's below min(low,
        synced size), zeros from there on."""
        limit = min(self.low, self.synced_size)
        data = b""
        if start < limit:
            data = os.pread(self.fd, min(stop, limit) - start, start)
        if len(data) < stop - start:
            data += bytes(stop - start - len(data))
        return data

    def read(self, offset: int, length: int) -> bytes:
        with self.lock:
            self.check_power()
            end = min(offset + length, self.size)
            if offset >= end:
                return b""
            if not self.dirty:
                return self._backing(offset, end)
            out = bytearray()
            position = offset
            while position < end:
                page = position // PAGE
                page_end = min((page + 1) * PAGE, end)
                buffer = self.dirty.get(page)
                if buffer is not None:
                    out += buffer[position - page * PAGE:page_end - page * PAGE]
                    position = page_end
                    continue
                run_end = page_end  # one pread for a run of clean pages
                while run_end < end and run_end // PAGE not in self.dirty:
                    run_end = min(run_end + PAGE, end)
                out += self._backing(position, run_end)
                position = run_end
            assert len(out) == end - offset
            return bytes(out)

    # -- changes -------------------------------------------------------------------------------

    def write(self, data: bytes, offset: int) -> int:
        view = memoryview(data)
        end = offset + len(data)
        with self.lock:
            self.check_power()
            position = offset
            while position < end:
                page = position // PAGE
                base = page * PAGE
                buffer = self.dirty.get(page)
                if buffer is None:
                    if position == base and end >= base + PAGE:
                        buffer = bytearray(PAGE)  # overwritten whole: nothing to read first
                    else:
                        buffer = bytearray(self._backing(base, base + PAGE))
                    self.dirty[page] = buffer
                count = min(end, base + PAGE) - position
                buffer[position - base:position - base + count] = view[position - offset:position - offset + count]
                position += count
            self.size = max(self.size, end)
        return len(data)

    def truncate(self, length: int) -> None:
        assert length >= 0
        with self.lock:
            self.check_power()
            if length < self.size:
                first_gone = (length + PAGE - 1) // PAGE
                for page in [p for p in self.dirty if p >= first_gone]:
                    del self.dirty[page]
                buffer = self.dirty.get(length // PAGE)
                if buffer is not None and length % PAGE:
                    buffer[length % PAGE:] = bytes(PAGE - length % PAGE)
                self.low = min(self.low, length)
            self.size = length

    def allocate(self, mode: int, offset: int, length: int) -> None:
        """fallocate: mode 0 grows the size (a change like any other, held until a sync; the
        new bytes read as zeros); KEEP_SIZE changes nothing one can read."""
        with self.lock:
            self.check_power()
            if mode & ~FALLOC_FL_KEEP_SIZE:
                raise OSError(errno.EOPNOTSUPP, "lazyfs: only plain fallocate")
            if not mode & FALLOC_FL_KEEP_SIZE:
                self.size = max(self.size, offset + length)

    def sync(self, data_only: bool) -> None:
        """fsync (or with `data_only` fdatasync, which the backing file then gets too)."""
        with self.lock:
            self.check_power()
            if not self.is_clean():
                backing_size = self.synced_size
                if self.low < self.synced_size:
                    os.ftruncate(self.fd, self.low)
                    backing_size = self.low
                pages = sorted(self.dirty)
                start = 0
                while start < len(pages):  # one pwritev per run of adjacent pages
                    stop = start + 1
                    while stop < len(pages) and pages[stop] == pages[stop - 1] + 1 and stop - start < 256:
                        stop += 1
                    offset = pages[start] * PAGE
                    buffers = [self.dirty[p] for p in pages[start:stop]]
                    last = pages[stop - 1]
                    assert last * PAGE < self.size, "a dirty page past the end (truncation drops those)"
                    if (last + 1) * PAGE > self.size:
                        buffers[-1] = buffers[-1][:self.size - last * PAGE]
                    total = sum(len(b) for b in buffers)
                    written = os.pwritev(self.fd, buffers, offset)
                    if written != total:
                        raise OSError(errno.EIO, f"lazyfs: short write to the backing file ({written} of {total})")
                    backing_size = max(backing_size, offset + total)
                    start = stop
                if backing_size != self.size:
                    # Only then: a truncate to the same size still changes the times, and the sync
                    # below would have to commit that too.
                    os.ftruncate(self.fd, self.size)
                self.dirty.clear()
                self.low = self.synced_size = self.size
            if data_only:
                os.fdatasync(self.fd)
            else:
                os.fsync(self.fd)

    def lose_power(self) -> int:
        """Drops everything unsynced; returns how much that was."""
        with self.lock:
            lost = self.unsynced_bytes() if not self.is_clean() else 0
            self.dirty.clear()
            self.low = self.size = self.synced_size
            self.powered = False
            return lost


def _fuse():
    """fusepy, with libfuse 2.9's operations past the last one it knows (ioctl) up to fallocate,
    so WiredTiger's log preallocation is one call instead of a zero byte written per 4 KiB
    block (glibc's posix_fallocate fallback)."""
    import fuse

    if not hasattr(fuse.fuse_operations, "lazyfs_extended"):
        names = [field[0] for field in fuse.fuse_operations._fields_]
        assert names[-1] == "ioctl", f"fusepy's operations end with {names[-1]}, not ioctl"

        class Operations(ctypes.Structure):
            lazyfs_extended = True
            _fields_ = list(fuse.fuse_operations._fields_) + [
                ("poll", ctypes.c_voidp),
                ("write_buf", ctypes.c_voidp),
                ("read_buf", ctypes.c_voidp),
                ("flock", ctypes.c_voidp),
                ("fallocate", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, fuse.c_off_t, fuse.c_off_t,
                                               ctypes.POINTER(fuse.fuse_file_info))),
            ]

        fuse.fuse_operations = Operations  # read by fuse.FUSE.__init__ when it builds the table
    return fuse


class Filesystem:
    """The FUSE operations (fusepy, raw_fi: every file operation gets the fuse_file_info). Paths
    are mount-relative ("/a/b"); `fi.fh` numbers an open file, mapped to its `Inode`."""

    use_ns = True
    flag_nullpath_ok = 1  # file operations on unlinked open files (hard_remove) come with no path

    def __init__(self, backing: Path, announce) -> None:
        self.backing = str(backing)
        self.announce = announce
        self.table_lock = threading.Lock()
        self.inodes: Dict[Tuple[int, int], Inode] = {}  # Guarded by table_lock.
        self.handles: Dict[int, Inode] = {}  # Guarded by table_lock.
        self.numbers = itertools.count(1)
        self.powered = True
        self.syncs = 0
        self.writes = 0

    def __call__(self, op: str, *args):
        if not self.powered:
            raise OSError(errno.EIO, "lazyfs lost power")
        return getattr(self, op)(*args)

    def _path(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    # -- the inode table -----------------------------------------------------------------------

    def _inode_for_fd(self, fd: int, name: str) -> Inode:
        """The inode `fd` (a new O_RDWR descriptor of the backing file) is of; the table's own if
        it has one (then `fd` is closed), else a new one keeping `fd`. Call with `table_lock` held."""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        inode = self.inodes.get(key)
        if inode is None:
            inode = self.inodes[key] = Inode(key, fd, name)
        else:
            os.close(fd)
        return inode

    def _forget_if_unused(self, inode: Inode) -> None:
        """Closes and drops an inode nobody has open that holds nothing unsynced or has no name
        left. Call with `table_lock` held."""
        if inode.opens > 0 or self.inodes.get(inode.key) is not inode:
            return
        with inode.lock:
            if not inode.is_clean() and os.fstat(inode.fd).st_nlink > 0:
                return
        del self.inodes[inode.key]
        os.close(inode.fd)

    def _key_of(self, path: str) -> Optional[Tuple[int, int]]:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _forget(self, key: Optional[Tuple[int, int]]) -> None:
        if key is None:
            return
        with self.table_lock:
            inode = self.inodes.get(key)
            if inode is not None:
                self._forget_if_unused(inode)

    def _open(self, path: str, flags: int, fi, mode: Optional[int] = None) -> int:
        # Always read-write, whatever the caller asked: the sync writes through this descriptor.
        # The kernel has checked the caller's access already; O_APPEND's offsets come from it.
        open_flags = os.O_RDWR | (flags & (os.O_CREAT | os.O_EXCL)) | os.O_CLOEXEC
        fd = os.open(self._path(path), open_flags, mode if mode is not None else 0o644)
        with self.table_lock:
            inode = self._inode_for_fd(fd, path)
            inode.opens += 1
            number = next(self.numbers)
            self.handles[number] = inode
        fi.fh = number
        if flags & os.O_TRUNC:
            inode.truncate(0)
        return 0

    def _inode(self, fi) -> Inode:
        return self.handles[fi.fh]

    # -- file operations -----------------------------------------------------------------------

    def getattr(self, path: Optional[str], fi=None):
        inode: Optional[Inode] = None
        if fi:  # a fuse_file_info, or None or a NULL pointer for a path lookup
            inode = self._inode(fi)
            st = os.fstat(inode.fd)
        else:
            assert path is not None
            st = os.lstat(self._path(path))
            with self.table_lock:
                inode = self.inodes.get((st.st_dev, st.st_ino))
        attributes = {key: getattr(st, key) for key in (
            "st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size", "st_blocks", "st_ino",
            "st_atime_ns", "st_mtime_ns", "st_ctime_ns")}
        for key in ("st_atime", "st_mtime", "st_ctime"):
            attributes[key] = attributes.pop(key + "_ns")
        if inode is not None:
            attributes["st_size"] = inode.size
            attributes["st_blocks"] = max(st.st_blocks, (inode.size + 511) // 512)
        return attributes

    def open(self, path: str, fi) -> int:
        return self._open(path, fi.flags, fi)

    def create(self, path: str, mode: int, fi) -> int:
        return self._open(path, fi.flags | os.O_CREAT, fi, mode)

    def read(self, path: Optional[str], size: int, offset: int, fi) -> bytes:
        return self._inode(fi).read(offset, size)

    def write(self, path: Optional[str], data: bytes, offset: int, fi) -> int:
        self.writes += 1
        return self._inode(fi).write(data, offset)

    def truncate(self, path: Optional[str], length: int, fi=None) -> int:
        if fi:
            self._inode(fi).truncate(length)
            return 0
        assert path is not None
        fd = os.open(self._path(path), os.O_RDWR | os.O_CLOEXEC)
        with self.table_lock:
            inode = self._inode_for_fd(fd, path)
        inode.truncate(length)
        with self.table_lock:
            self._forget_if_unused(inode)
        return 0

    def fallocate(self, path: Optional[str], mode: int, offset: int, length: int, fi) -> int:
        self._inode(fi).allocate(mode, offset, length)
        return 0

    def fsync(self, path: Optional[str], datasync: int, fi) -> int:
        self.syncs += 1
        self._inode(fi).sync(data_only=bool(datasync))
        return 0

    def flush(self, path: Optional[str], fi) -> int:
        return 0  # close(2) syncs nothing

    def release(self, path: Optional[str], fi) -> int:
        with self.table_lock:
            inode = self.handles.pop(fi.fh)
            inode.opens -= 1
            assert inode.opens >= 0
            self._forget_if_unused(inode)
        return 0

    # -- metadata, straight through ------------------------------------------------------------

    def readdir(self, path: str, fh: int):
        return [".", ".."] + os.listdir(self._path(path))

    def opendir(self, path: str) -> int:
        return 0

    def releasedir(self, path: Optional[str], fh: int) -> int:
        return 0

    def fsyncdir(self, path: Optional[str], datasync: int, fh: int) -> int:
        fd = os.open(self._path(path or "/"), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return 0

    def access(self, path: str, mode: int) -> int:
        if not os.access(self._path(path), mode):
            raise OSError(errno.EACCES, "access")
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._path(path))
        return 0

    def unlink(self, path: str) -> int:
        target = self._path(path)
        key = self._key_of(target)
        os.unlink(target)
        self._forget(key)
        return 0

    def rename(self, old: str, new: str) -> int:
        target = self._path(new)
        key = self._key_of(target)
        os.rename(self._path(old), target)
        self._forget(key)  # the file the rename replaced, if one had no other name
        renamed = self._key_of(target)
        with self.table_lock:
            if renamed in self.inodes:
                self.inodes[renamed].name = new
        return 0

    def link(self, target: str, source: str) -> int:
        os.link(self._path(source), self._path(target))
        return 0

    def symlink(self, target: str, source: str) -> int:
        os.symlink(source, self._path(target))
        return 0

    def readlink(self, path: str) -> str:
        return os.readlink(self._path(path))

    def mknod(self, path: str, mode: int, dev: int) -> int:
        os.mknod(self._path(path), mode, dev)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times=None) -> int:
        os.utime(self._path(path), ns=times) if times else os.utime(self._path(path))
        return 0

    def statfs(self, path: str):
        sv = os.statvfs(self._path(path))
        return {key: getattr(sv, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize",
            "f_namemax")}

    # Extended attributes: ENOSYS once and the kernel stops asking (it would look for
    # security.capability before every write).
    def getxattr(self, path: str, name: str, position: int = 0):
        raise OSError(errno.ENOSYS, "no xattrs")

    def listxattr(self, path: str):
        raise OSError(errno.ENOSYS, "no xattrs")

    def init(self, path: str) -> None:
        self.announce("ok mounted")

    # -- control -------------------------------------------------------------------------------

    def lose_power(self) -> Dict[str, int]:
        """Unsynced bytes dropped, by file name."""
        self.powered = False  # new operations fail from here on
        with self.table_lock:
            inodes = list(self.inodes.values())
        lost: Dict[str, int] = {}
        for inode in inodes:
            dropped = inode.lose_power()  # waits for an operation on it in progress
            if dropped:
                lost[inode.name] = lost.get(inode.name, 0) + dropped
        return lost

    def stats(self) -> str:
        with self.table_lock:
            inodes = list(self.inodes.values())
        files = unsynced = 0
        for inode in inodes:
            with inode.lock:
                if not inode.is_clean():
                    files += 1
                    unsynced += inode.unsynced_bytes()
        return f"files={files} unsynced_bytes={unsynced} syncs={self.syncs} writes={self.writes}"


def _serve(backing: Path, mount: Path) -> int:
    fuse = _fuse()
    out_lock = threading.Lock()

    def announce(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    filesystem = Filesystem(backing, announce)

    def unmount() -> None:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)

    stopping = threading.Event()
    stopped = threading.Event()

    def control() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "lose-power":
                announce("ok lost " + json.dumps(filesystem.lose_power()))
            elif command == "stats":
                announce("ok " + filesystem.stats())
            elif command == "unmount":
                break
            elif command:
                announce(f"error unknown command {command!r}")
        stopping.set()
        unmount()
        announce("ok")
        stopped.set()

    class Mount(fuse.FUSE):
        def fallocate(self, path, mode, offset, length, fip):
            return self.operations("fallocate", self._decode_optional_path(path), mode, offset, length, fip.contents)

    threading.Thread(target=control, name="control", daemon=True).start()
    Mount(filesystem, str(mount), raw_fi=True, foreground=True, fsname="lazyfs", subtype="lazyfs",
          big_writes=True, max_write=TRANSFER_MAX, max_read=TRANSFER_MAX, hard_remove=True, use_ino=True)
    if stopping.is_set():
        stopped.wait(10)  # the control thread's last reply
    return 0


class LazyFS:
    """Drives one lazyfs process: `mount()`, then `lose_power()` and `unmount()` (a power loss),
    or just `unmount()`. A new LazyFS over the same backing directory is the rebooted machine."""

    def __init__(self, backing: Path, mount: Path, log_path: Optional[Path] = None) -> None:
        self.backing = Path(backing)
        self.mount_point = Path(mount)
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None

    @staticmethod
    def problem() -> Optional[str]:
        """Why lazyfs cannot run here, or None."""
        if os.geteuid() != 0:
            return "lazyfs needs root (it mounts)"
        if not os.path.exists("/dev/fuse"):
            return "no /dev/fuse"
        try:
            _fuse()
        except (ImportError, OSError, EnvironmentError) as exc:
            return f"fusepy or libfuse2 missing ({exc}); run Tools/install-deps.sh"
        return None

    def mount(self, timeout: float = 10.0) -> "LazyFS":
        assert self.proc is None, "already mounted"
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mount_point.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(self.backing), str(self.mount_point)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0)
        if log is not subprocess.DEVNULL:
            log.close()
        try:
            reply = self._reply(timeout)
        except AssertionError:
            self._abandon()
            raise
        assert reply == "ok mounted", f"lazyfs did not mount {self.mount_point}: {reply!r}"
        assert self.is_mounted(), f"lazyfs said it mounted, but {self.mount_point} is no mount point"
        return self

    def is_mounted(self) -> bool:
        target = str(self.mount_point.resolve())
        with open("/proc/self/mounts") as mounts:
            return any(line.split()[1] == target for line in mounts)

    def _reply(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"lazyfs did not answer within {timeout} s"
        line = self.proc.stdout.readline().decode().strip()
        assert line, f"lazyfs exited (status {self.proc.poll()})"
        return line

    def command(self, line: str, timeout: float = 30.0) -> str:
        assert self.proc is not None and self.proc.stdin is not None, "not mounted"
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        reply = self._reply(timeout)
        assert reply.startswith("ok"), f"lazyfs answered {line!r} with {reply!r}"
        return reply

    def lose_power(self) -> Dict[str, int]:
        """Discards every unsynced change; returns the bytes discarded by file (mount-relative
        path, the last it was opened or renamed by)."""
        return json.loads(self.command("lose-power").split(" ", 2)[2])

    def stats(self) -> Dict[str, int]:
        return {k: int(v) for k, v in (part.split("=") for part in self.command("stats").split()[1:])}

    def unmount(self, timeout: float = 15.0) -> None:
        """Unmounts (lazily if something still holds a file) and waits for the process to end;
        whatever goes wrong, the mount is gone afterwards."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.command("unmount", timeout)
                self.proc.wait(timeout)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            self._abandon()

    def _abandon(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
            self.proc = None
        deadline = time.monotonic() + 10
        while self.is_mounted() and time.monotonic() < deadline:
            subprocess.run(["umount", "-l", str(self.mount_point)], capture_output=True)
            time.sleep(0.05)
        assert not self.is_mounted(), f"{self.mount_point} is still mounted"

    def __enter__(self) -> "LazyFS":
        return self.mount() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.unmount()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backing", type=Path, help="the directory holding the files (what survives)")
    parser.add_argument("mount", type=Path, help="where to mount it")
    args = parser.parse_args()
    return _serve(args.backing.resolve(), args.mount.resolve())


if __name__ == "__main__":
    sys.exit(main())
