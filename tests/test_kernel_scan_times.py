"""kernel-check's scan times (issue 15, docs/kernel-check.md 'Scan times'): the scanner's trace
in the initramfs guest, the scan-cost figures fitted on it, and what kernel-check gives new runs."""
import gzip
import json

import pandas as pd
import pytest

from memtier import cli, datasets
from memtier import kernel_check as kc
from memtier.kernel import check


def _trace(name):
    with gzip.open(datasets.data_path(f"kernel_check/scan_trace_{name}.txt.gz"), "rt") as handle:
        return kc.scan_trace(handle.read())


def _node0_settled(name):
    """Node 0's pages of the mapping at the traced run's last checkpoint (its program's rows)."""
    raw = pd.read_csv(datasets.data_path(f"kernel_check/scan_trace_{name}_raw.csv"), comment="#")
    return int(raw["fast_hot"].iloc[-1] + raw["fast_cold"].iloc[-1])


def test_scan_trace_reads_chunks_passes_and_the_task_s_switches():
    """The 1000 MB hot-set trace: 11 scans (and one early return), the first pass 4 scans over
    the mapping's 256 000 pages in 256 MB windows (the program's few other mappings in the first
    and last); its first scan lost 7.3 ms to kswapd within it (switched out at a
    ``cond_resched``), so its own time is 18.0 ms of 25.3.  The virtme-ng trace of 2026-11-26
    has neither ranges nor switches: those columns are NaN."""
    table = _trace("initramfs_hot_set_1000mb")
    scans = table[table["chunks"] > 0]
    assert len(scans) == 11 and len(table) == 12
    first = scans[scans["pass"] == 0]
    assert first["walked"].tolist() == [65833, 65536, 65536, 59991]
    assert first["armed"].iloc[0] == 65545
    assert first["ms"].iloc[0] == pytest.approx(25.280, abs=1e-3)
    assert first["away_ms"].iloc[0] == pytest.approx(7.322, abs=1e-3)
    assert first["task_ms"].iloc[0] == pytest.approx(17.958, abs=1e-3)
    assert (scans["away_ms"].iloc[1:] == 0).all() and scans["pass"].max() == 3
    old = kc.scan_trace(datasets.data_path("kernel_check/scan_trace.txt").read_text())
    assert old[["walked", "away_ms", "task_ms", "pass"]].isna().all().all()
    assert old.loc[old["chunks"] > 0, "armed"].tolist() == [39515, 12557, 5578, 3888, 18]


def test_the_scan_cost_figures_come_from_the_committed_traces():
    """``scan_costs`` over :data:`SCAN_TRACES`: the first passes' 13 scans (no PTE
    ``PROT_NONE`` yet) lie within 0.013 ms of 90.55 ns a page on node 0 and 273.50 ns a page
    armed, and the scans that walk a whole settled mapping and arm nothing give 21.06 ns a
    ``PROT_NONE`` page; kernel-check's figures are those less 21 ns, rounded.  Every traced
    scan is consistent with them: the node-0 pages it implies lie between 0 and its pages not
    armed (within 500 pages, 0.035 ms), and under node 0's pages of the mapping.  The earlier
    figures (45 ns a page, 240 more armed) miss the first 600 MB pass's second scan by 1.9 ms."""
    assert _node0_settled("initramfs_hot_set") == kc.SCAN_TRACES["initramfs_hot_set"] == 100725
    assert _node0_settled("initramfs_hot_set_800mb_192hot") == kc.SCAN_TRACES["initramfs_hot_set_800mb_192hot"]
    tables = [_trace(name) for name in kc.SCAN_TRACES]
    fit = kc.scan_costs(tables, kc.SCAN_TRACES.values())
    assert fit["fast_ns"] == pytest.approx(90.55, abs=0.01)
    assert fit["arm_ns"] == pytest.approx(273.50, abs=0.01)
    assert fit["protnone_ns"] == pytest.approx(21.06, abs=0.01)
    first = fit["first_pass"]
    assert len(first) == 13 and first["residual_ms"].abs().max() < 0.013
    assert kc.SCAN_PTE_NS == round(fit["protnone_ns"])
    assert kc.SCAN_FAST_NS == round(fit["fast_ns"] - fit["protnone_ns"])
    assert kc.SCAN_ARM_NS == round(fit["arm_ns"] - fit["protnone_ns"])
    for table in tables:
        scans = table[table["chunks"] > 0]
        protnone, fast, arm = fit["protnone_ns"], fit["fast_ns"], fit["arm_ns"]
        node0 = (1e6 * scans["task_ms"] - scans["walked"] * protnone - scans["armed"] * (arm - protnone)) \
            / (fast - protnone)
        assert (node0 > -500).all() and (node0 <= scans["walked"] - scans["armed"] + 500).all()
        assert (node0 < 101_000).all()
    hot = tables[0][tables[0]["chunks"] > 0].iloc[1]
    assert (hot["walked"], hot["armed"]) == (65536, 19266)
    assert hot["task_ms"] - 1e-6 * (45 * hot["walked"] + 240 * hot["armed"]) == pytest.approx(1.89, abs=0.01)


def test_scan_costs_needs_the_ranges_of_kernel_check_s_trace():
    old = kc.scan_trace(datasets.data_path("kernel_check/scan_trace.txt").read_text())
    with pytest.raises(kc.KernelCheckError, match="kernel-check --scan-trace"):
        kc.scan_costs([old])
    with pytest.raises(kc.KernelCheckError, match="2 node-0 counts for 1 traces"):
        kc.scan_costs([_trace("initramfs_zipf")], [None, None])


def test_scan_trace_option_puts_the_probes_around_the_workload_alone(tmp_path, monkeypatch, capsys):
    """``run_guest(scan_trace=True)``: the initramfs guest's script sets the kprobes and the
    switches' filter just before the workload and writes the trace to ``/out`` after it; without
    it the script is the committed runs' (no tracing); the virtme-ng guest refuses it."""
    scripts = []

    class Stop(Exception):
        pass

    def fake_run(script, folder, **kwargs):
        scripts.append(script)
        raise Stop

    def fake_build(folder, *args, **kwargs):
        binary = tmp_path / "kernel_workload"
        binary.write_bytes(b"")
        return binary

    monkeypatch.setattr(check.bare, "run", fake_run)
    monkeypatch.setattr(check, "build_workload", fake_build)
    w = kc.Workload(kind="hot_set", total_mb=600, hot_mb=64, seconds=24)
    for traced in (False, True):
        with pytest.raises(Stop):
            check.run_guest(w, tmp_path, scan_trace=traced)
    plain, traced = scripts
    assert "kprobe_events" not in plain and "tracing" not in plain
    assert traced.replace(check.SCAN_TRACE_ON, "").replace(check.SCAN_TRACE_OFF, "") == plain
    assert traced.index("p:tnw_in task_numa_work") < traced.index(" /workload ") < traced.index("/out/scan_trace.txt")
    assert "r:cpn change_prot_numa ret=$retval" in traced and "p:cpi change_prot_numa addr=%si" in traced
    with pytest.raises(kc.KernelCheckError, match="needs the initramfs guest"):
        check.run_guest(w, tmp_path, boot="virtme", scan_trace=True)
    with pytest.raises(kc.KernelCheckError, match="needs the initramfs guest"):
        kc.kernel_check(w, tmp_path / "out", boot="virtme", scan_trace=True)
    assert not (tmp_path / "out" / "scan_trace.txt").exists()
    assert cli.main(["kernel-check", "--workload", "hot_set", "--total-mb", "600", "--hot-mb", "64", "--seconds",
                     "24", "--boot", "virtme", "--scan-trace", "--out", str(tmp_path / "cli"), "--quiet"]) == 2
    assert "scan_trace needs the initramfs guest" in capsys.readouterr().err


def test_new_runs_count_the_scan_in_ticks_with_the_traced_figures():
    """kernel-check gives new runs the traced figures and ``scan_time_ticks`` (6.1 counts the
    scan's time in whole ticks); saved runs have neither key and ``load_run`` gives them 0 (the
    earlier model), so they simulate to their rows (``test_every_committed_run_...``).
    In the 600 MB hot-set run (its saved settings, both gates and the threshold rule) the first
    promotion wave comes at 4-5 s without ticks (0 promoted by 4 s), before 4 s with ticks and
    the earlier figures (3 307: its arming scan counted as 1 tick where the trace has 2), and
    with ticks and the traced figures 890 by 4 s, against the kernel's 845 (run 0)."""
    params = kc.simulator_params(kc.Workload(kind="hot_set", total_mb=600, hot_mb=64, seconds=24))
    assert (params["scan_time_ticks"], params["scan_pte_ns"], params["scan_fast_ns"], params["scan_arm_ns"]) == \
        (1.0, 21.0, 69.0, 252.0)
    info = kc.load_run(datasets.data_path("kernel_check/initramfs_hot_set_runs4_guest.json"))
    saved = info["simulator"]["params"]
    on_disk = json.loads(datasets.data_path("kernel_check/initramfs_hot_set_runs4_guest.json").read_text())
    assert not {"scan_time_ticks", "scan_fast_ns"} & set(on_disk["simulator"]["params"])
    assert (saved["scan_time_ticks"], saved["scan_fast_ns"]) == (0.0, 0.0)  # load_run: as they were simulated
    assert (saved["scan_pte_ns"], saved["scan_arm_ns"]) == (45.0, 240.0)
    by_4s = []
    for extra in ({}, {"scan_time_ticks": 1.0},
                  {key: params[key] for key in ("scan_time_ticks", "scan_pte_ns", "scan_fast_ns", "scan_arm_ns")}):
        settings = dict(info["simulator"], params=dict(saved, scan_tick_gate=1.0, threshold_adjusts_at_once=1.0,
                                                       **extra))
        rows = kc.simulate_timeline(info["workload"], settings, up_to=5)
        by_4s.append(int(rows["promoted"].iloc[3]))
        assert rows["promoted"].iloc[4] >= 3307
    assert by_4s == [0, 3307, 890]
