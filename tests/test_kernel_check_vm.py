"""`memtier kernel-check` in a real guest: Linux 6.1 with node 1 in a lower memory tier.

Boots the tiered guest of :mod:`memtier.kernel_check` (QEMU TCG, one vCPU under ``-icount``) five
times: twice through ``memtier kernel-check --kernel-runs 2`` with a short phase-change workload
(its default guest, booted from an initramfs; the guest's run, a second started 1 ms later, and
memtier's are checked), and twice with the
same workload alone in that guest, which reads nothing from the host: the two runs' figures must
agree within 2 % (the issue's repeatability check); and once with a DAMON trace replayed
(``--workload trace``).  Deselected by default (``numa_vm`` marker);
``.ci/numa_vm`` runs all (1-1.5 minutes each on this project's busy 2-core VM, the first with
memtier's side besides) and fails if a guest cannot start:
``python3 -m pytest -m numa_vm tests/test_kernel_check_vm.py``.
"""
import contextlib
import io
import os

import pandas as pd
import pytest

import numa_vm
from memtier import cli
from memtier import kernel_check as kc
from memtier.kernel import bare

pytestmark = pytest.mark.numa_vm

# 600 MB: more than node 0's ~450 MB free, so the fill overflows it; 64 MB hot; 12 s, the hot set
# moving to the first 64 MB at 6 s (phase), so that most promotions and a third of the demotions
# come from one wave after the change, not from where the race of the fill with kswapd left pages
# (which varies most between runs: hot_set's 4 000 promotions are mostly the fill's hot pages).
WORKLOAD = kc.Workload(kind="phase", total_mb=600, hot_mb=64, seconds=12)
SHORT = ["--workload", WORKLOAD.kind, "--total-mb", str(WORKLOAD.total_mb), "--hot-mb", str(WORKLOAD.hot_mb),
         "--seconds", str(WORKLOAD.seconds)]
TIMEOUT_S = 480  # one guest, boots included (the two initramfs runs: half each); .ci/numa_vm stops the tests at 900 s


def _tools_or_skip():
    try:
        numa_vm.find_tools()  # virtme-ng's guest
        bare.find_tools()  # the initramfs guest: QEMU, busybox, ndctl, daxctl, the kernel and its modules
    except numa_vm.VmUnavailable as error:
        reason = os.environ.get("MEMTIER_NUMA_VM_UNAVAILABLE")
        if reason:
            pytest.skip(f"{error} ({reason})")
        if os.environ.get("CI"):
            pytest.fail(f"{error}; .ci/numa_vm should have installed it: see its log")
        pytest.skip(f"{error}; to run this test: {numa_vm.INSTALL}; apt-get install ndctl daxctl gcc libc6-dev")


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """``memtier kernel-check`` of :data:`WORKLOAD`: ``(status, stderr, out)``."""
    _tools_or_skip()
    out = tmp_path_factory.mktemp("kcheck")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = cli.main(["kernel-check", *SHORT, "--timeout", str(TIMEOUT_S), "--kernel-runs", "2",
                           "--out", str(out)])
    return status, err.getvalue(), out


def test_short_comparison(short_run):
    status, err, out = short_run
    # a guest that does not start, or a tier set-up that fails, is an error here, not a skip
    assert status == 0, f"kernel-check failed: {err[-3000:]}"
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


def test_a_second_kernel_run_started_later_and_memtier_against_both(short_run):
    """--kernel-runs 2: the guest ran the same accesses again, started 1 ms later (the program
    built with -DSTART_OFFSET_US; its digests checked against memtier's stream).  On this
    workload a 1 ms later start moves the kernel's promotion wave after the phase change by
    seconds (2026-11-27, three runs: the new hot set promoted at 11 s at +0 ms, at 8 s at +1 and
    +2 ms, 99.6 points apart at 8-10 s), so memtier is judged against the range of the two:
    measured 4.4 points outside it at most (in the fill), against the issue's 10."""
    status, err, out = short_run
    assert status == 0, f"kernel-check failed: {err[-3000:]}"
    runs = kc.load_kernel_runs(out / "kernel_runs.csv")
    assert sorted(runs["run"].unique()) == [0, 1]
    assert runs.groupby("run")["start_offset_ms"].first().tolist() == [0.0, 1.0]
    timeline = kc.load_timeline(out / "timeline.csv")
    kernel = timeline[timeline["source"] == "kernel"]
    assert runs[runs["run"] == 0]["fast_hot_pages"].tolist() == kernel["fast_hot_pages"].tolist()
    assert (runs[runs["run"] == 1]["demoted"].iloc[-1]) > 1000
    spread = kc.spread_verdict(kc.kernel_spread(runs, timeline, WORKLOAD.hot_pages))
    print(spread)
    assert spread["memtier_outside_points"] <= 10.0, spread


def test_two_icount_runs_agree(tmp_path):
    """Under -icount the guest's time is its instruction count: two runs of the short
    comparison's workload give the same figures within 2 % (the issue's check): the share of hot
    pages on node 0 at every checkpoint (within 2 points) and the cumulative promotions and
    demotions at the end (within 2 % of the larger).

    The runs boot from an initramfs (``boot="initramfs"``: ``-seed 1``, ``nokaslr``, the RTC on
    the guest's clock) and read nothing from the host before the accesses end, so they run the
    same instructions: on this project's shared 2-core VM (2026-11-26, load 3-5) the rows of two
    runs were byte-identical, with node 0 as the boot left it and with a ballast.  virtme-ng's
    guest, kernel-check's default, whose root is read through 9p, missed this check (up to 6.9
    points apart; :mod:`memtier.kernel.check` has the figures).
    """
    _tools_or_skip()
    runs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        folder.chmod(0o755)
        runs.append(kc.run_guest(WORKLOAD, folder, icount=True, timeout=TIMEOUT_S / 2, boot="initramfs")["raw"])
    first, second = runs
    assert list(first["nominal_s"]) == list(second["nominal_s"])
    assert list(first["digest"]) == list(second["digest"])
    share_gap = 100 * (first["fast_hot"] - second["fast_hot"]).abs() / WORKLOAD.hot_pages
    report = {column: list(zip(first[column], second[column]))
              for column in ("fast_hot", "pgpromote_success", "pgdemote_kswapd")}
    print(report)
    assert (share_gap <= 2.0).all(), f"hot share gap {share_gap.max():.2f} points: {report}"
    for column in ("pgpromote_success", "pgdemote_kswapd"):
        a, b = int(first[column].iloc[-1]), int(second[column].iloc[-1])
        assert abs(a - b) <= 0.02 * max(a, b), f"{column} at the end differs by more than 2 %: {report[column]}"


def test_a_recorded_trace_replayed_in_the_guest(tmp_path):
    """--workload trace: a DAMON trace of a real program (damo's test record, ``memtier trace
    damon``'s draw, seed 0) replayed after a 600 MB fill.  The guest ran the trace build, locked
    the trace, and replayed exactly memtier's stream (the command checks every checkpoint's
    digest); both put nearly all of its 32 MB hot set on node 0 (measured at 24 s, 2026-11-27:
    the whole of it by 6 s in three kernel runs and in memtier, 7.4 points apart at most, in the
    fill: ``data/kernel_check/initramfs_trace_damon_runs3_*``).  Built with ``--node-map`` too: the
    program's map, kept on node 1 and locked, gives every checkpoint's count on node 0 again, page
    by page, beside memtier's in ``node_map.npz``."""
    _tools_or_skip()
    import memtier
    from memtier import datasets

    trace = memtier.damon_trace(memtier.read_damon_record(datasets.damon_record()), n_accesses=1_000_000, seed=0)
    memtier.workloads.save_trace(trace.pages, tmp_path / "heat.npy")
    out = tmp_path / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = cli.main(["kernel-check", "--workload", "trace", "--trace", str(tmp_path / "heat.npy"),
                           "--total-mb", "600", "--hot-mb", "32", "--seconds", "8", "--timeout", str(TIMEOUT_S),
                           "--node-map", "--out", str(out)])
    assert status == 0, f"kernel-check failed: {err.getvalue()[-3000:]}"
    text = (out / "kernel_raw.csv").read_text()
    assert "# the trace is locked in memory (mlock): 1000000 accesses" in text
    timeline = kc.load_timeline(out / "timeline.csv")
    kernel = timeline[timeline["source"] == "kernel"]
    sim = timeline[timeline["source"] == "memtier"]
    assert kernel["promoted"].iloc[-1] > 10_000 and sim["promoted"].iloc[-1] > 10_000
    assert kernel["fast_hot_pages"].iloc[-1] > 0.9 * 32 * 256 and sim["fast_hot_pages"].iloc[-1] > 0.9 * 32 * 256
    assert (kc.load_run(out / "guest.json")["workload"].trace_pages == trace.pages).all()
    assert "NOT bound" not in text and "NOT locked" not in text  # the map on node 1, out of kswapd's way
    maps = kc.load_node_maps(out / "node_map.npz")
    assert maps["kernel"].shape == maps["memtier"].shape == (8, 600 * 256)
    fast = (maps["kernel"] == 0).sum(axis=1)
    assert fast.tolist() == (kernel["fast_hot_pages"] + kernel["fast_cold_pages"]).tolist()
    assert ((maps["memtier"] == 0).sum(axis=1) == (sim["fast_hot_pages"] + sim["fast_cold_pages"]).to_numpy()).all()
