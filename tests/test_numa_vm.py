"""`memtier measure` on a real two-node NUMA kernel: a QEMU guest, node 1 without CPUs.

The CI machine has one NUMA node, so cross-node placement (``mbind``), ``move_pages`` between
nodes, the per-page status check and THP moves are run in a guest (tests/numa_vm.py, software
emulation: slow, so one boot runs everything and the plan is small).  The file comes back and
is checked here, on the host.  The speeds are an emulator's and are not checked.  One Python
process in the guest measures (`memtier measure`'s entry point) and then moves two THPs by all
their 4 KiB addresses, to see the kernel's -EBUSY-then-moved status on a real kernel.

Deselected by default (``-m "not numa_vm"`` in pyproject.toml); ``.ci/numa_vm`` installs QEMU,
a guest kernel and virtme-ng and runs ``python3 -m pytest -m numa_vm``.  Skipped only where those
could not be installed (``MEMTIER_NUMA_VM_UNAVAILABLE`` holds why), or outside CI where they are
missing; in CI a missing tool, a guest that does not boot twice or a run past its time fails.
"""
import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import numa_vm
from memtier import cli
from memtier.measurement.schema import load_measurements

pytestmark = pytest.mark.numa_vm

# The dedicated small plan: 4 KiB and 2 MiB pages, calls of 1 and 16, one and two threads,
# 4 MiB buffers, 2 repeats (the quick plan's move_pages rows: 4 KiB x1, x64, 2 MiB x1).
PLAN = ["--quick", "--no-progress", "--page-sizes", "4K,2M", "--pages", "1,16", "--threads", "1,2",
        "--buffer", "4M", "--repeats", "2"]
TIMEOUT_S = 270  # the whole guest part, a second boot included; .ci/numa_vm stops the test at 320 s

# What the guest runs: `memtier measure` (memtier.cli.main, the `memtier` command's entry
# point), then, in the same process (a second Python start costs tens of seconds under
# emulation), every 4 KiB address of two THPs passed to one move_pages call: the pattern that
# gives -EBUSY for a subpage although the THP moved.
GUEST_MAIN = """
import errno, json, sys
import numpy as np
from memtier import cli
from memtier.measurement import numa
out = sys.argv[1]
status = cli.main(["measure", "--from", "0", "--to", "1", *sys.argv[2:], "--out", out + "/guest.csv"])
size = 4 << 20
with numa.Region(size, node=0, huge=True) as region:
    region.touch()
    numa.bind(region.address, size, None)
    huge_before = region.huge_bytes()
    every = region.address + np.arange(size // 4096, dtype=np.uint64) * np.uint64(4096)
    raw = numa.PageMover(every, 1).move().copy()
    settled, moved_after_busy = numa.settle_busy(every, raw, 1)
    after = numa.move_pages(every, None)
    result = {"pages": int(every.size), "huge_bytes_before": huge_before, "raw_ebusy": int((raw == -errno.EBUSY).sum()),
              "raw_on_target": int((raw == 1).sum()), "settled_on_target": int((settled == 1).sum()),
              "moved_after_busy": moved_after_busy, "after_on_target": int((after == 1).sum()),
              "huge_bytes_after": region.huge_bytes()}
json.dump(result, open(out + "/ebusy.json", "w"))
sys.exit(status)
"""


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    try:
        numa_vm.find_tools()
    except numa_vm.VmUnavailable as error:
        reason = os.environ.get("MEMTIER_NUMA_VM_UNAVAILABLE")
        if reason:
            pytest.skip(f"{error} ({reason})")
        if os.environ.get("CI"):
            pytest.fail(f"{error}; .ci/numa_vm should have installed it: see its log")
        pytest.skip(f"{error}; to run this test: {numa_vm.INSTALL}")
    out = tmp_path_factory.mktemp("numa-vm")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(out / "numba-cache"), NUMBA_CPU_NAME="generic",
               PYTHONPATH=str(numa_vm.CHECKOUT))
    # Compile the copy kernels here, for a generic x86-64 CPU, into the cache the guest reads:
    # compiling them under emulation would take minutes.  Same plan, on this one node, while
    # the guest boots; the guest waits for the marker before measuring.
    def compile_on_the_host():
        try:
            compiled = subprocess.run([sys.executable, "-m", "memtier", "measure", "--same-node", *PLAN,
                                       "--out", str(out / "host.csv")], env=env, capture_output=True, text=True,
                                      timeout=TIMEOUT_S)
            compiled_out.append(compiled)
        finally:
            (out / ".host-ready").touch()

    compiled_out = []
    compiling = threading.Thread(target=compile_on_the_host)
    compiling.start()
    (out / "guest_main.py").write_text(GUEST_MAIN)
    command = f"{sys.executable} {out}/guest_main.py {out} {' '.join(PLAN)}"
    try:
        run = numa_vm.run_in_guest(command, out, timeout=TIMEOUT_S, boot_timeout=100, wait_for=".host-ready")
    finally:
        compiling.join()
    assert compiled_out and compiled_out[0].returncode == 0, (
        f"compiling the copy kernels on the host failed: {compiled_out[0].stderr[-2000:] if compiled_out else 'timeout'}")
    print(f"guest: {run.seconds:.0f} s, {run.attempts} boot attempt(s)")
    assert run.returncode == 0, f"memtier measure failed in the guest:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return out, run


def test_measure_moves_pages_to_a_cpu_less_node(guest):
    out, run = guest
    table = load_measurements(out / "guest.csv")
    syscall = table[table["scope"] == "syscall"]
    assert set(syscall["page_size"]) == {4096, 2 << 20}
    assert not table["notes"].str.contains("same-node").any()
    assert syscall["notes"].str.startswith("move_pages node 0 to node 1").all()
    assert syscall["gbps"].gt(0).all()
    # No page failed to move: the status arrays and the per-page check after the last move.
    assert not table["notes"].str.contains("did not move|not on node|split|THPs despite").any(), table["notes"]
    copy = table[table["scope"] == "copy"]
    assert set(copy["workers"]) == {1, 2} and copy["notes"].str.fullmatch(
        r"node 0 to node 1, threads on node 0 CPUs 0,1").all()


def test_sidecar_describes_two_nodes_with_node_1_cpu_less(guest):
    out, _ = guest
    sidecar = json.loads((out / "guest.csv.json").read_text())
    nodes = sidecar["machine"]["numa_nodes"]
    assert [n["node"] for n in nodes] == [0, 1]
    assert nodes[0]["cpus"] == [0, 1] and nodes[1]["cpus"] == []
    assert all(n["memory_bytes"] > 512 << 20 for n in nodes)
    assert sidecar["complete"] and sidecar["thp_obtained"] is True
    assert sidecar["plan"]["copy_cpus"] == [0, 1] and sidecar["plan"]["cpus_node"] == 0
    assert sidecar["copy_buffer_huge_fraction"] == 1.0


def test_fit_accepts_the_file(guest, tmp_path, capsys):
    out, _ = guest
    assert cli.main(["fit", str(out / "guest.csv"), "--bootstrap", "0", "--out", str(tmp_path / "fit.json")]) == 0
    assert (tmp_path / "fit.json").exists()


def test_ebusy_subpage_of_a_moved_thp_is_found_moved(guest):
    out, _ = guest
    probe = json.loads((out / "ebusy.json").read_text())
    assert probe["huge_bytes_before"] == probe["huge_bytes_after"] == 4 << 20  # two THPs, moved whole
    assert probe["after_on_target"] == probe["settled_on_target"] == probe["pages"] == 1024
    # Every -EBUSY entry was a page that had moved (the kernel's status, not a failure).
    assert probe["raw_ebusy"] == probe["moved_after_busy"]
    assert probe["raw_on_target"] + probe["raw_ebusy"] == probe["pages"]
