"""A guest booted from an initramfs alone: no virtme-ng, no 9p, nothing the host times.

Under ``-icount shift=0,sleep=off`` a guest's time is its instruction count, so a guest that
reads nothing from the host runs the same instructions in every run.  The virtme-ng guest
(:mod:`memtier.kernel.guest`) reads its root file system through 9p, and each read ends when
the host serves it: the boot differs from run to run in what the kernel holds (tens to 830
pages of node 0 in the runs of 2026-11-26), in where its pages are, and so in the instructions
every later allocation takes; on one vCPU, where the workload and kswapd take turns at
4 ms ticks, that was enough for two fills to differ by 500 hot pages on node 0 even with node 0's
free pages and LRU lists made equal before the start (``memtier.kernel.check``'s docstring).
Here the guest's files are packed into an initramfs (newc cpio, what the kernel unpacks
itself): busybox (static), ``ndctl`` and ``daxctl`` with their libraries, the kernel modules
the tier set-up loads, and the workload program; ``-seed`` makes the guest's RDRAND the same
in every run, and ``nokaslr`` keeps the kernel where it is.  Results come back at the end as
text on a second serial port (a file on the host), after the accesses.

Needs ``qemu-system-x86_64``, ``busybox`` (static), ``ndctl``, ``daxctl`` and the guest kernel's
modules (``/lib/modules/<release>``, from the same ``linux-image-amd64`` package).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import guest

#: Modules the tier set-up loads (``modprobe -a`` in :data:`memtier.kernel.check.TIER_SETUP`).
MODULES = ("nd_e820", "nd_pmem", "dax_pmem", "device_dax", "kmem")
TOOLS = ("ndctl", "daxctl")
BEGIN, END = "=== memtier file ", "=== memtier end"


class _Cpio:
    """A newc cpio archive (``Documentation/driver-api/early-userspace/buffer-format.rst``)."""

    def __init__(self):
        self.parts, self.ino, self.names = [], 1, set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        name = name.lstrip("/")
        if name in self.names:
            return
        self.names.add(name)
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self.ino += 1
        blob = header + name.encode() + b"\0"
        blob += b"\0" * (-len(blob) % 4) + data
        self.parts.append(blob + b"\0" * (-len(blob) % 4))

    def directory(self, name: str) -> None:
        parts = Path(name.lstrip("/")).parts
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o755) -> None:
        parent = Path(name.lstrip("/")).parent
        if parent != Path("."):
            self.directory(str(parent))
        self._entry(name, 0o100000 | mode, data)

    def bytes(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return b"".join(self.parts)


def _libraries(binary: str) -> list[str]:
    """The shared libraries ``binary`` loads (``ldd``), its interpreter included."""
    done = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if done.returncode != 0:
        raise guest.VmUnavailable(f"cannot list the libraries of {binary} (ldd: {done.stderr.strip()})")
    found = []
    for line in done.stdout.splitlines():
        match = re.search(r"(/\S+)\s+\(0x", line)
        if match:
            found.append(match.group(1))
    return found


def _module_files(release: str) -> dict:
    """``{path in the guest: path here}`` of :data:`MODULES`, their dependencies and modules.dep."""
    root = Path("/lib/modules") / release
    dep = root / "modules.dep"
    if not dep.exists():
        raise guest.VmUnavailable(f"the guest kernel's modules are not in {root} (apt-get install linux-image-amd64)")
    table = {}
    for line in dep.read_text().splitlines():
        name, _, needs = line.partition(":")
        table[Path(name).name.split(".ko")[0]] = [name, *needs.split()]
    files = {f"/lib/modules/{release}/modules.dep": dep}
    for module in MODULES:
        if module not in table:
            raise guest.VmUnavailable(f"module {module} is not in {dep}")
        for relative in table[module]:
            files[f"/lib/modules/{release}/{relative}"] = root / relative
    return files


def find_tools(kernel: str | None = None) -> str:
    """The guest kernel, once QEMU, busybox, ndctl, daxctl and the kernel's modules are found;
    else :class:`guest.VmUnavailable` naming what is missing."""
    missing = [f"{tool} (apt-get install {package})" for tool, package in
               (("qemu-system-x86_64", "qemu-system-x86"), ("busybox", "busybox-static"), ("ndctl", "ndctl"),
                ("daxctl", "daxctl")) if shutil.which(tool) is None]
    try:
        kernel = guest.find_kernel(kernel)
    except guest.VmUnavailable as error:
        missing.append(str(error).split("missing: ", 1)[-1])
    else:
        if not (Path("/lib/modules") / kernel_release(kernel) / "modules.dep").exists():
            missing.append(f"the guest kernel's modules in /lib/modules/{kernel_release(kernel)} (apt-get "
                           "install linux-image-amd64)")
    if missing:
        raise guest.VmUnavailable("cannot start the initramfs guest, missing: " + "; ".join(missing))
    return kernel


def kernel_release(kernel: str) -> str:
    """The release of a ``vmlinuz`` (``/boot/vmlinuz-6.1.0-56-amd64`` -> ``6.1.0-56-amd64``)."""
    name = Path(kernel).name
    if not name.startswith("vmlinuz-"):
        raise guest.VmUnavailable(f"cannot tell the release of the guest kernel {kernel} (expected /boot/vmlinuz-RELEASE)")
    return name[len("vmlinuz-"):]


def initramfs(script: str, extra: dict, kernel: str) -> bytes:
    """An initramfs whose ``/init`` runs ``script`` (a shell script, ``$OUT`` = ``/out``) and
    then writes every file of ``/out`` to the second serial port; ``extra``: ``{path: bytes}``."""
    busybox = shutil.which("busybox")
    tools = [shutil.which(tool) for tool in TOOLS]
    if busybox is None or None in tools:
        raise guest.VmUnavailable("the initramfs guest needs busybox (apt-get install busybox-static), "
                                  "ndctl and daxctl (apt-get install ndctl daxctl)")
    archive = _Cpio()
    for name in ("dev", "proc", "sys", "tmp", "run", "out", "etc", "bin", "sbin", "usr/bin", "usr/sbin"):
        archive.directory(name)
    archive.file("/bin/busybox", Path(busybox).read_bytes())
    for tool in tools:
        archive.file(f"/usr/bin/{Path(tool).name}", Path(tool).read_bytes())
        for library in _libraries(tool):
            archive.file(library, Path(library).read_bytes())
    for inside, here in _module_files(kernel_release(kernel)).items():
        archive.file(inside, Path(here).read_bytes(), 0o644)
    for name, data in extra.items():
        archive.file(name, data)
    init = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin OUT=/out HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
( {script} ) > /out/.stdout 2> /out/.stderr
echo $? > /out/.status
for f in /out/* /out/.stdout /out/.stderr /out/.status; do
  [ -f "$f" ] || continue
  echo "{BEGIN}$(basename "$f")" > /dev/ttyS1
  base64 "$f" > /dev/ttyS1
  echo "{END}" > /dev/ttyS1
done
sync
poweroff -f
"""
    archive.file("/init", init.encode())
    return archive.bytes()


def read_files(text: str) -> dict:
    """The files the guest wrote to its second serial port: ``{name: bytes}``."""
    import base64

    files, name, lines = {}, None, []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if line.startswith(BEGIN):
            name, lines = line[len(BEGIN):], []
        elif line == END and name is not None:
            files[name] = base64.b64decode("".join(lines))
            name = None
        elif name is not None:
            lines.append(line)
    return files


def qemu_command(kernel: str, initrd: Path, console: Path, data: Path, machine: guest.Machine) -> list:
    """QEMU for ``machine`` (its nodes, vCPUs, kernel arguments and options), booting ``initrd``."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise guest.VmUnavailable("qemu-system-x86_64 is missing (apt-get install qemu-system-x86)")
    command = [qemu, "-machine", "q35", "-cpu", "max", "-m", machine.memory, "-smp", str(machine.cpus),
               "-display", "none", "-vga", "none", "-net", "none", "-parallel", "none", "-monitor", "none",
               "-no-reboot", "-serial", f"file:{console}", "-serial", f"file:{data}"]
    for i, node in enumerate(machine.numa):
        size, _, cpus = node.partition(",")
        command += ["-object", f"memory-backend-ram,id=mem{i},size={size}",
                    "-numa", f"node,memdev=mem{i}" + (f",{cpus}" if cpus else "")]
    append = " ".join(("console=ttyS0 quiet loglevel=0 panic=-1 rdinit=/init", *machine.append))
    command += ["-kernel", kernel, "-initrd", str(initrd), "-append", append, *machine.qemu_opts.split()]
    return command


def run(script: str, folder, *, extra: dict, machine: guest.Machine, timeout: float = 600,
        kernel: str | None = None) -> guest.GuestRun:
    """Boot ``machine`` from an initramfs that runs ``script``; the files it leaves in ``$OUT``
    are written to ``folder``.  Raises :class:`guest.GuestFailed` past ``timeout`` or when no
    status comes back."""
    folder = Path(folder)
    kernel = find_tools(kernel)
    initrd = folder / "initramfs.cpio"
    initrd.write_bytes(initramfs(script, extra, kernel))
    console, data = folder / "console.txt", folder / "serial.txt"
    command = qemu_command(kernel, initrd, console, data, machine)
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    pidfile = os.environ.get("MEMTIER_VM_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as file:
            file.write(f"{process.pid}\n")
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise guest.GuestFailed(f"the initramfs guest ran past {timeout:.0f} s and was stopped; its console is "
                                f"in {console}") from None
    finally:  # QEMU (its own process group) does not outlive this call: time out, interrupt or error
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        initrd.unlink(missing_ok=True)
    files = read_files(data.read_text(errors="replace")) if data.exists() else {}
    if ".status" not in files:
        last = (err.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise guest.GuestFailed(f"the initramfs guest gave no status (QEMU exit {process.returncode}: {last}); "
                                f"its console is in {console}")
    for name, content in files.items():
        (folder / name).write_bytes(content)
    status = int(files[".status"].decode().strip() or 1)
    return guest.GuestRun(status, files.get(".stdout", b"").decode(errors="replace"),
                          files.get(".stderr", b"").decode(errors="replace"), time.monotonic() - started, 1)
