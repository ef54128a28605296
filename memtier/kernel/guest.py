#!/usr/bin/env python3
"""Run a shell command inside a two-NUMA-node Linux guest, on this checkout.

    python3 tests/numa_vm.py [--out DIR] [--timeout S] [--kernel VMLINUZ] -- memtier measure --quick \\
        --from 0 --to 1 --out '$OUT/m.csv'

The guest is QEMU started by virtme-ng (``vng``) with software emulation (no KVM needed, so it
is slow: on this project's 2-core VM, shared with other work, a boot took 15-85 s and starting
Python with numpy, pandas and numba about a minute):
2 virtual CPUs and 2 GiB; node 0 has 1 GiB and both CPUs, node 1 has 1 GiB and no CPU, the
way persistent memory and CXL memory appear to Linux.  The guest runs the host's kernel
package (``linux-image-amd64``) and sees the host's files read-only over 9p, so this checkout
and the Python that runs this script (its virtual environment included) run unchanged inside;
``memtier`` in the command is ``<this python> -m memtier`` with this checkout first on the
path.  Only ``DIR`` is writable (default: a new temporary folder, kept and printed); results
must go there: the guest's shell has it as ``$OUT`` (quote it on the host: ``'$OUT/m.csv'``).
The command's words are joined with spaces and run by the guest's shell, as ``ssh`` does.
Exit status: the command's.

Needs ``qemu-system-x86_64`` (apt: qemu-system-x86), a guest kernel (apt: linux-image-amd64),
``busybox`` (apt: busybox-static) and virtme-ng (pip: virtme-ng; its ``vng`` must be on PATH
or beside this Python).  tests/test_numa_vm.py runs ``memtier measure`` this way, and
``memtier kernel-check`` (:mod:`memtier.kernel_check`) boots a guest of another shape
(:class:`Machine`: node 1 in a lower memory tier) to compare the simulator with the kernel;
with ``--boot initramfs`` it boots from an initramfs instead (:mod:`memtier.kernel.bare`), which
reads nothing from the host, so that runs repeat.  This module was tests/numa_vm.py (which now runs its :func:`main`); it is
in the package because ``memtier kernel-check`` needs it.

Every process started (vng, virtme-run, QEMU) is in one process group of its own, which is
ended when the command finishes, times out or this script is interrupted; with
``MEMTIER_VM_PIDFILE`` set, the group's id is also appended to that file, so that a caller
that has to kill this script (CI's time limit) can end the group after it.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
# Guest: node 0 holds both CPUs, node 1 is memory only.
MEMORY = "2G"
NUMA = ("1G,cpus=0-1", "1G")
CPUS = 2


@dataclass(frozen=True)
class Machine:
    """The guest's shape: QEMU's memory and NUMA nodes (``vng --numa``), vCPUs, extra kernel
    arguments (``vng --append``) and extra QEMU options (e.g. ``-icount shift=0,sleep=off``).
    The default is the two-node guest above (:data:`MEMORY`, :data:`NUMA`, :data:`CPUS`)."""

    memory: str = MEMORY
    numa: tuple = NUMA
    cpus: int = CPUS
    append: tuple = ()
    qemu_opts: str = ""
# Folders virtme-ng overlays with a writable layer in the guest; left as they are.
OVERLAID = {"etc", "lib", "home", "opt", "srv", "usr", "var", "tmp"}
INSTALL = ("apt-get install -y --no-install-recommends qemu-system-x86 linux-image-amd64 busybox-static; "
           "pip install virtme-ng")


class VmUnavailable(RuntimeError):
    """QEMU, virtme-ng, busybox or a guest kernel is missing (one-line message)."""


class GuestFailed(RuntimeError):
    """The guest did not boot (twice), or the command ran past its time (one-line message)."""


@dataclass
class GuestRun:
    """What came back from the guest."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall time of all attempts
    attempts: int


def find_tools(kernel: str | None = None) -> tuple[str, str]:
    """(vng, guest kernel) paths, or :class:`VmUnavailable` naming what is missing."""
    missing = []
    vng = shutil.which("vng") or str(Path(sys.executable).parent / "vng")
    if not os.access(vng, os.X_OK):
        missing.append("virtme-ng's vng (pip install virtme-ng)")
    if not shutil.which("qemu-system-x86_64"):
        missing.append("qemu-system-x86_64 (apt-get install qemu-system-x86)")
    if not shutil.which("busybox"):
        missing.append("busybox (apt-get install busybox-static)")
    kernel, problem = _kernel(kernel)
    if problem:
        missing.append(problem)
    if missing:
        raise VmUnavailable("cannot start the NUMA guest, missing: " + "; ".join(missing))
    return vng, kernel


def _kernel(kernel: str | None) -> tuple:
    """(the guest kernel's path, None) or (None, what is missing): ``kernel``, else
    ``$MEMTIER_VM_KERNEL``, else the newest ``/boot/vmlinuz-*``."""
    kernel = kernel or os.environ.get("MEMTIER_VM_KERNEL")
    if kernel is None:
        found = sorted(Path("/boot").glob("vmlinuz-*"), key=lambda p: p.stat().st_mtime)
        kernel = str(found[-1]) if found else None
    if kernel is None or not os.access(kernel, os.R_OK):
        return None, f"a readable guest kernel ({kernel or '/boot/vmlinuz-*'}; apt-get install linux-image-amd64)"
    return kernel, None


def find_kernel(kernel: str | None = None) -> str:
    """The guest kernel (as :func:`find_tools` finds it), or :class:`VmUnavailable`."""
    found, problem = _kernel(kernel)
    if problem:
        raise VmUnavailable(f"cannot start the guest, missing: {problem}")
    return found


def _loose_mounts(rwdir: Path) -> list[str]:
    """Top folders holding this Python and this checkout that are not overlaid in the guest.

    The guest's root is 9p without a cache: every file Python opens is a round trip through
    the emulated machine.  These folders are mounted a second time with ``cache=loose`` (the
    host's files do not change while the guest runs), which halved the time of importing
    numpy and pandas in the guest.  A folder holding ``rwdir`` is left alone: mounting over
    it would hide the writable folder.
    """
    tops = []
    for path in (sys.prefix, sys.base_prefix, str(CHECKOUT), str(Path(sys.executable).resolve())):
        parts = Path(path).resolve().parts
        if (len(parts) > 1 and parts[1] not in OVERLAID and parts[1] not in tops
                and Path(rwdir).resolve().parts[1:2] != parts[1:2]):
            tops.append(parts[1])
    return tops


def guest_script(command: str, rwdir: Path, wait_for: str | None = None) -> str:
    """The shell script the guest runs: environment, then ``command``, then its status.

    With ``wait_for``, the command starts once that file exists in ``rwdir`` (written by the
    host while the guest boots)."""
    python = sys.executable
    mounts = "\n".join(f"mount --bind /run/memtier-host/{top} /{top} 2>/dev/null || true"
                       for top in _loose_mounts(rwdir))
    rw = shlex.quote(str(rwdir))
    return f"""#!/bin/sh
: > {rw}/.booted
if mkdir -p /run/memtier-host && mount -t 9p -o trans=virtio,version=9p2000.L,cache=loose,msize=524288,ro,access=any \\
    memtierhost /run/memtier-host 2>/dev/null; then
{mounts}
fi
export PATH={shlex.quote(str(Path(python).parent))}:$PATH
export PYTHONPATH={shlex.quote(str(CHECKOUT))}${{PYTHONPATH:+:$PYTHONPATH}}
# Kernels compiled on the host for a generic x86-64 CPU are found here (compiling under
# emulation takes minutes); the guest's own compilations are kept here too.
export NUMBA_CACHE_DIR={rw}/numba-cache NUMBA_CPU_NAME=generic
export HOME=/tmp MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1 OUT={rw}
memtier() {{ {shlex.quote(python)} -m memtier "$@"; }}
cd {shlex.quote(str(CHECKOUT))}
{f"while [ ! -e {rw}/{wait_for} ]; do sleep 0.2; done" if wait_for else ""}
( {command} )
status=$?
echo $status > {rw}/.status
exit $status
"""


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 3 and 5 of /proc/PID/stat: the state and the process group.  A zombie (our
        # own child not yet waited for) runs nothing.
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _end_group(pgid: int) -> None:
    """End the process group ``pgid`` (ours: vng, virtme-run, QEMU): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if not _group_alive(pgid):
            return
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.1)


def _attempt(vng: str, kernel: str, rwdir: Path, script: Path, boot_timeout: float, deadline: float,
             capture: bool, machine: Machine = Machine()) -> tuple[str, int, str, str]:
    """One boot: ("ran" | "no-boot" | "timeout", status, stdout, stderr)."""
    for marker in (".booted", ".status"):
        (rwdir / marker).unlink(missing_ok=True)
    command = vng_command(vng, kernel, rwdir, script, machine)
    env = dict(os.environ, PATH=f"{Path(vng).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = open(rwdir / ".stdout", "w+") if capture else None
    err = open(rwdir / ".stderr", "w+") if capture else None
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                               cwd=rwdir, start_new_session=True)
    pidfile = os.environ.get("MEMTIER_VM_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as file:
            file.write(f"{process.pid}\n")
    outcome = "ran"
    finished = None
    try:
        while process.poll() is None:
            now = time.monotonic()
            # The command's status is written last, through 9p straight into the host's file:
            # once it is there the results are complete, and powering the guest off (some
            # seconds under emulation) is not waited for beyond a short grace.
            if finished is None and (rwdir / ".status").exists():
                finished = now
            if finished is not None and now - finished > 3:
                break
            if now > deadline:
                outcome = "timeout"
                break
            if now - started > boot_timeout and not (rwdir / ".booted").exists():
                outcome = "no-boot"
                break
            time.sleep(0.5)
    finally:
        _end_group(process.pid)
        process.wait()
    if outcome == "ran" and not (rwdir / ".booted").exists():
        outcome = "no-boot"
    status_file = rwdir / ".status"
    status = int(status_file.read_text()) if status_file.exists() else process.returncode
    texts = []
    for stream in (out, err):
        if stream is None:
            texts.append("")
        else:
            stream.seek(0)
            texts.append(stream.read())
            stream.close()
    return outcome, status, texts[0], texts[1]


def vng_command(vng: str, kernel: str, rwdir: Path, script: Path, machine: Machine = Machine()) -> list:
    """The ``vng`` command line that boots ``machine`` and runs ``script`` in it."""
    command = [vng, "-r", kernel, "--disable-kvm", "-m", machine.memory, "--cpus", str(machine.cpus)]
    for node in machine.numa:
        command += ["--numa", node]
    for argument in machine.append:
        command += ["--append", argument]
    command += [f"--rwdir={rwdir}",
                "--qemu-opts=-fsdev local,id=memtierhost,path=/,security_model=none,readonly=on,multidevs=remap "
                "-device virtio-9p-pci,fsdev=memtierhost,mount_tag=memtierhost"
                + (f" {machine.qemu_opts}" if machine.qemu_opts else ""),
                "-e", f"sh {script}"]
    return command


def run_in_guest(command, rwdir, *, timeout: float = 240, boot_timeout: float = 120, attempts: int = 2,
                 kernel: str | None = None, capture: bool = True, wait_for: str | None = None,
                 machine: Machine = Machine()) -> GuestRun:
    """Run ``command`` (a shell string or an argument list) in the two-node guest.

    Parameters
    ----------
    rwdir : path
        An existing folder, writable in the guest under the same path.
    timeout : float
        Seconds for everything, boots and retries included.
    boot_timeout : float
        Seconds a boot may take to reach the command; a boot that does not is ended and
        retried, ``attempts`` times in all.  A command that started is never retried.
    wait_for : str, optional
        A file name in ``rwdir``: the guest waits for it before running ``command``, so the
        host can prepare something (compile) while the guest boots.
    machine : Machine
        The guest's shape (default: two nodes of 1 GiB, node 1 without CPUs).

    Raises
    ------
    VmUnavailable
        A tool or the guest kernel is missing.
    GuestFailed
        No boot reached the command, or the command ran past ``timeout``.
    """
    vng, kernel = find_tools(kernel)
    rwdir = Path(rwdir).resolve()
    if not isinstance(command, str):
        command = shlex.join(command)
    script = rwdir / "guest.sh"
    script.write_text(guest_script(command, rwdir, wait_for))
    started = time.monotonic()
    deadline = started + timeout
    stderr = ""
    for attempt in range(1, attempts + 1):
        outcome, status, out, stderr = _attempt(vng, kernel, rwdir, script, boot_timeout, deadline, capture,
                                                machine)
        if outcome == "ran":
            return GuestRun(status, out, stderr, time.monotonic() - started, attempt)
        if outcome == "timeout":
            raise GuestFailed(f"the command in the NUMA guest ran past {timeout:.0f} s (attempt {attempt}) "
                              f"and was stopped; its output is in {rwdir}")
        if time.monotonic() + 30 > deadline:
            break
    last = " ".join(stderr.strip().splitlines()[-3:]) if stderr.strip() else "no output"
    raise GuestFailed(f"the NUMA guest did not boot ({attempt} attempt(s), {boot_timeout:.0f} s each; "
                      f"kernel {kernel}; last stderr: {last})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python3 tests/numa_vm.py -- memtier measure --quick "
                                            "--from 0 --to 1 --out '$OUT/m.csv'  ($OUT: the writable folder)",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="writable folder shared with the guest (default: a new temporary one)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for everything (default 900)")
    parser.add_argument("--kernel", help="guest kernel (default: the newest /boot/vmlinuz-*)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --, e.g. -- memtier measure --quick --from 0 --to 1 --out '$OUT/m.csv'")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="memtier-vm-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"guest's writable folder: {out.resolve()} ($OUT in the command)", file=sys.stderr)
    shell = " ".join(command)  # as ssh does: the guest's shell parses the words again
    try:
        result = run_in_guest(shell, out, timeout=args.timeout, kernel=args.kernel, capture=False)
    except (VmUnavailable, GuestFailed) as error:
        print(f"numa_vm: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"guest finished in {result.seconds:.0f} s (boot attempts: {result.attempts}), status {result.returncode}",
          file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
