"""`memtier kernel-check` in a real guest: Linux 6.1 with node 1 in a lower memory tier.

Boots the tiered guest of :mod:`memtier.kernel_check` (QEMU TCG, one vCPU under ``-icount``),
runs a short hot-set workload in it and in memtier's ``numa-balancing``, and checks what
came back.  Deselected by default (``numa_vm`` marker); ``.ci/numa_vm`` runs
``test_short_comparison`` (a few minutes) and fails if the guest cannot start.
``test_two_icount_runs_agree`` boots the guest twice more (about 10 minutes on a 2-core
machine): it is also marked ``numa_vm_slow``, which CI leaves out; run it with
``python3 -m pytest -m numa_vm tests/test_kernel_check_vm.py``.
"""
import os

import pandas as pd
import pytest

import numa_vm
from memtier import cli
from memtier import kernel_check as kc

pytestmark = pytest.mark.numa_vm

# 600 MB: more than node 0's ~450 MB free, so the fill overflows it; 64 MB hot; 12 s.
SHORT = ["--workload", "hot_set", "--total-mb", "600", "--hot-mb", "64", "--seconds", "12"]
TIMEOUT_S = 540  # the guest, boots included; .ci/numa_vm stops the test at 600 s


def _tools_or_skip():
    try:
        numa_vm.find_tools()
    except numa_vm.VmUnavailable as error:
        reason = os.environ.get("MEMTIER_NUMA_VM_UNAVAILABLE")
        if reason:
            pytest.skip(f"{error} ({reason})")
        if os.environ.get("CI"):
            pytest.fail(f"{error}; .ci/numa_vm should have installed it: see its log")
        pytest.skip(f"{error}; to run this test: {numa_vm.INSTALL}; apt-get install ndctl daxctl gcc libc6-dev")


def test_short_comparison(tmp_path, capsys):
    _tools_or_skip()
    out = tmp_path / "kcheck"
    status = cli.main(["kernel-check", *SHORT, "--timeout", str(TIMEOUT_S), "--out", str(out)])
    captured = capsys.readouterr()
    # a guest that does not start, or a tier set-up that fails, is an error here, not a skip
    assert status == 0, f"kernel-check failed: {captured.err[-3000:]}"
    timeline = kc.load_timeline(out / "timeline.csv")
    header = [line for line in (out / "timeline.csv").read_text().splitlines() if line.startswith("#")]
    assert any("kernel: 6.1" in line for line in header) and any("-icount" in line for line in header)
    assert set(timeline["source"]) == {"kernel", "memtier"}
    kernel = timeline[timeline["source"] == "kernel"]
    sim = timeline[timeline["source"] == "memtier"]
    assert list(kernel["time_s"]) == list(sim["time_s"]) == [float(t) for t in range(1, 13)]
    # the kernel tiered: the fill overflowed node 0 and kswapd demoted to node 1
    assert kernel["demoted"].iloc[-1] > 1000
    raw = pd.read_csv(out / "kernel_raw.csv", comment="#")
    pages = raw[["fast_hot", "fast_cold", "slow_hot", "slow_cold"]].sum(axis=1)
    assert (pages + raw["absent"] == 600 * 256).all() and (raw["slow_cold"] > 0).all()
    assert (out / "timeline.png").stat().st_size > 10_000
    # both put (nearly) all of the hot set on the fast node by the end
    assert kernel["fast_hot_pages"].iloc[-1] > 0.9 * 64 * 256
    assert sim["fast_hot_pages"].iloc[-1] > 0.9 * 64 * 256


@pytest.mark.numa_vm_slow
def test_two_icount_runs_agree(tmp_path):
    """Under -icount the guest's time is its instruction count: two runs of one workload
    give the same figures within 2 % (the issue's check): the share of hot pages on node 0 at
    every checkpoint (within 2 points) and the cumulative promotions and demotions at the end.

    Measured on this project's shared 2-core VM (phase, 600 MB, 64 MB hot, 12 s): it failed at
    one checkpoint, 5 s, where one run had begun promoting and the other not yet (11 304
    against 12 043 hot pages on node 0, 4.5 points); the others were within 2.0 points.  The
    program and its rows now live in a RAM file system while it runs (no 9p request during the
    run); rerun after that change (2026-11-26, same VM, load 3-5): within 0.24 points at every
    checkpoint but one, 6 s, the last before the phase change, where one run had promoted more
    of the hot set than the other (16 365 against 14 774, 9.7 points), and 20 646 against
    19 167 promotions at the end (7 %); two more pairs, at load 5-6: 1.1 points at most (and
    promotions within 0.1 %), then 14.7 points at 6 s (13 841 against 16 252) and 5 points
    from the fill on.  The program now also starts on a whole second of the guest's clock (the
    kernel's periodic work is rounded to whole seconds from boot, and boots differ in length);
    one pair since: 1.4 points after the fill, 3.3 at 6 s (16 365 against 15 827), promotions
    within 1.5 %, demotions within 0.2 %.  What -icount does not replay is the boot: its 9p
    reads end when the host serves them, so runs start the workload from another state of
    the kernel, and where the fill's pages land depends on when kswapd runs beside it.
    """
    _tools_or_skip()
    w = kc.Workload(kind="phase", total_mb=600, hot_mb=64, seconds=12)
    runs = []
    for i in range(2):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        folder.chmod(0o755)
        runs.append(kc.run_guest(w, folder, icount=True, timeout=TIMEOUT_S)["raw"])
    a, b = runs
    share_gap = 100 * (a["fast_hot"] - b["fast_hot"]).abs() / w.hot_pages
    ends = {column: (int(a[column].iloc[-1]), int(b[column].iloc[-1]))
            for column in ("pgpromote_success", "pgdemote_kswapd")}
    report = (f"hot pages on node 0: {list(zip(a['fast_hot'], b['fast_hot']))}; at the end: {ends}")
    print(report)
    assert (share_gap <= 2.0).all(), report
    for first, second in ends.values():
        assert abs(first - second) <= 0.02 * max(first, second), report
