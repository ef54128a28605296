"""memtier measure: NUMA bindings, copy kernels, the measurement run and its file.

The CI machine has one NUMA node and two cores: cross-node moves cannot happen here, so
these tests cover node discovery (on real and on made-up sysfs trees), refusals, the
single-node and same-node paths, the copy kernels against a plain reference, the file a
run leaves (also when interrupted), and fitting a measured file.  Cross-node behaviour is
tested here with made-up node layouts and a made-up status array (the -EBUSY pattern a 6.1
kernel gives), and on a real two-node kernel by tests/test_numa_vm.py (a QEMU guest, run by
.ci/numa_vm).
"""
import ctypes
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memtier import cli
from memtier.measurement import _copy
from memtier.measurement import measure
from memtier.measurement import numa
from memtier.model.fitting import identifiable
from memtier.measurement.schema import load_measurements
from memtier.model.cost import ModelParams, table_gbps

MIB = 1 << 20
THREADS = sorted({1, min(2, _copy.max_threads())})  # one and two threads, where there are two cores


def tiny_plan(**changes):
    choices = dict(quick=True, page_sizes=[4096, 2 * MIB], pages_per_call=[1, 2], threads=THREADS,
                   buffer_bytes=4 * MIB, repeats=2)
    choices.update(changes)
    return measure.make_plan(**choices)


# --- node discovery and refusals --------------------------------------------------------------


def fake_sysfs(tmp_path, layout):
    """A /sys/devices/system/node tree: layout maps node -> (cpulist, MemTotal kB)."""
    for node, (cpus, kb) in layout.items():
        folder = tmp_path / f"node{node}"
        folder.mkdir()
        (folder / "cpulist").write_text(cpus + "\n")
        (folder / "meminfo").write_text(f"Node {node} MemTotal:       {kb} kB\nNode {node} MemFree: 1 kB\n")
    return tmp_path


def test_cpulist_ranges_and_singletons():
    assert numa._parse_cpulist("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert numa._parse_cpulist("\n") == ()


def test_nodes_read_from_sysfs_in_numeric_order(tmp_path):
    root = fake_sysfs(tmp_path, {0: ("0-1", 1024), 10: ("", 0), 2: ("2-3", 2048)})
    found = numa.nodes(root)
    assert [n.node for n in found] == [0, 2, 10]
    assert found[1] == numa.Node(2, (2, 3), 2048 * 1024)
    with pytest.raises(numa.NumaError, match="node 10 has no memory"):
        numa.check_node(10, found)
    with pytest.raises(numa.NumaError, match=r"node 5 does not exist; this machine has node\(s\) 0 .*2 .*10"):
        numa.check_node(5, found)


def test_this_machine_has_a_node_with_its_cpus_and_memory():
    found = numa.nodes()
    assert found and all(n.memory_bytes > 0 for n in found)
    assert set().union(*(n.cpus for n in found)) >= set(__import__("os").sched_getaffinity(0))
    description = numa.describe_machine()
    assert {"cpu_model", "cores", "numa_nodes", "kernel", "thp"} <= set(description)
    assert "NUMA node" in numa.machine_summary(description)


@pytest.mark.parametrize("text, setting", [("always [madvise] never", "madvise"),
                                           ("[always] madvise never", "always"),
                                           ("always madvise [never]", "never")])
def test_thp_setting_is_the_bracketed_word(tmp_path, text, setting):
    (tmp_path / "enabled").write_text(text + "\n")
    assert numa.thp_setting(tmp_path) == setting
    assert numa.thp_available(tmp_path) == (setting != "never")


def test_thp_missing_means_unsupported(tmp_path):
    assert numa.thp_setting(tmp_path) == "unsupported"
    assert not numa.thp_available(tmp_path)
    assert numa.thp_bytes(tmp_path) == 2 * MIB


def test_thp_size_is_read_from_the_kernel(tmp_path):
    (tmp_path / "hpage_pmd_size").write_text("16777216\n")
    assert numa.thp_bytes(tmp_path) == 16 * MIB


def test_invalid_node_refused_by_the_plan_and_the_command_line(capsys):
    missing = max(n.node for n in numa.nodes()) + 7
    with pytest.raises(numa.NumaError, match=f"node {missing} does not exist"):
        measure.make_plan(quick=True, target=missing)
    assert cli.main(["measure", "--quick", "--from", str(missing), "--out", "never.csv"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("memtier: error: NUMA node") and error.count("\n") == 1


def test_kernel_refuses_a_move_to_a_node_that_does_not_exist():
    with numa.Region(1 * MIB) as region:
        region.touch()
        with pytest.raises(numa.NumaError, match="move_pages") as caught:
            numa.move_pages(np.array([region.address], dtype=np.uint64), 63)
        assert "\n" not in str(caught.value)


class RefusingLibc:
    """A C library whose syscall fails with one errno, as under a strict seccomp profile."""

    def __init__(self, code):
        self.code = code

    def syscall(self, *args):
        ctypes.set_errno(self.code)
        return -1


@pytest.mark.parametrize("code, words", [(errno.EPERM, "permission denied (EPERM)"),
                                         (errno.ENOSYS, "without NUMA support"),
                                         (errno.ENOMEM, "no free memory")])
def test_system_call_errors_become_one_line_messages(monkeypatch, code, words):
    monkeypatch.setattr(numa, "_libc", lambda: RefusingLibc(code))
    with pytest.raises(numa.NumaError) as caught:
        numa.move_pages(np.zeros(1, dtype=np.uint64), 0)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(numa.NumaError, match="mbind"):
        numa.bind(0, 4096, 0)


def test_permission_error_reaches_the_user_as_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(numa, "_libc", lambda: RefusingLibc(errno.EPERM))
    out = tmp_path / "m.csv"
    assert cli.main(["measure", "--quick", "--same-node", "--no-progress", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("memtier: error: ") and "EPERM" in error and "\n" not in error


def test_status_array_described_per_errno():
    assert numa.describe_status(np.array([1, 1, 1]), 1) == ""
    text = numa.describe_status(np.array([1, -errno.EBUSY, -errno.EBUSY, -errno.ENOENT, 0]), 1)
    assert text.startswith("4 of 5 pages did not move")
    assert "EBUSY x2" in text and "ENOENT x1" in text and "on node 0 x1" in text


def ebusy_pattern(n_thps, source, target, subpages=512):
    """What Linux 6.1 returned in a two-node guest when every 4 KiB address of THP-backed
    memory was passed to move_pages: each THP moved, one subpage per THP reported -EBUSY."""
    status = np.full(n_thps * subpages, target, dtype=np.int32)
    status[1::subpages] = -errno.EBUSY
    addresses = np.uint64(0x7F0000000000) + np.arange(status.size, dtype=np.uint64) * np.uint64(4096)
    return addresses, status


def test_ebusy_then_moved_is_asked_again_not_a_failure():
    addresses, status = ebusy_pattern(3, source=0, target=1)
    assert numa.describe_status(status, 1).startswith("3 of 1536 pages did not move (EBUSY x3)")
    asked = []

    def where(pages):  # the second query: every page is on the target
        asked.append(pages.copy())
        return np.full(pages.size, 1, dtype=np.int32)

    settled, moved = numa.settle_busy(addresses, status, 1, query=where)
    assert moved == 3 and (settled == 1).all() and numa.describe_status(settled, 1) == ""
    assert len(asked) == 1 and np.array_equal(asked[0], addresses[1::512])  # only the busy pages
    assert (status[1::512] == -errno.EBUSY).all()  # the call's own array is left as it was


def test_ebusy_pages_still_elsewhere_are_reported():
    addresses, status = ebusy_pattern(3, source=0, target=1)
    answers = np.array([1, 0, -errno.EBUSY], dtype=np.int32)  # moved; not moved; still busy (pinned)
    settled, moved = numa.settle_busy(addresses, status, 1, query=lambda pages: answers)
    assert moved == 1
    assert numa.describe_status(settled, 1) == "2 of 1536 pages did not move (EBUSY x1, on node 0 x1)"
    calls = []
    unchanged, none = numa.settle_busy(addresses[:3], np.ones(3, dtype=np.int32), 1, query=calls.append)
    assert none == 0 and not calls and (unchanged == 1).all()  # nothing busy: nothing asked


def test_a_busy_status_in_a_real_move_is_settled_and_remarked(monkeypatch):
    node = numa.nodes()[0].node
    real = numa.PageMover.move

    def busy_second_page(self):
        status = real(self)
        if self.targets is not None:  # a move, not a query of where pages are
            status[1] = -errno.EBUSY  # as the 6.1 kernel reports a THP's second subpage
        return status

    monkeypatch.setattr(numa.PageMover, "move", busy_second_page)
    gbps, sd, time_us, problems, remarks = measure.measure_move_pages(4096, 8, node, node, repeats=2, warmup=1)
    assert problems == "" and time_us > 0
    assert remarks.startswith("3 status entries EBUSY over 3 moves of pages found moved when asked again")


def test_pages_are_found_on_this_node_and_a_same_node_move_keeps_them():
    node = numa.nodes()[0].node
    with numa.Region(4 * 4096, node=node) as region:
        region.touch()
        addresses = region.address + np.arange(4, dtype=np.uint64) * np.uint64(4096)
        assert (numa.move_pages(addresses, None) == node).all()
        assert (numa.move_pages(addresses, node) == node).all()


def test_untouched_pages_are_reported_absent():
    with numa.Region(2 * 4096) as region:
        status = numa.move_pages(np.array([region.address], dtype=np.uint64), None)
        assert status[0] == -errno.ENOENT


@pytest.mark.skipif(not numa.thp_available(), reason="THP disabled on this machine")
def test_thp_obtained_is_read_from_smaps():
    with numa.Region(4 * MIB, huge=True) as huge, numa.Region(4 * MIB, huge=False) as small:
        huge.touch()
        small.touch()
        assert huge.huge_bytes() == 4 * MIB or numa.thp_setting() == "never"
        if numa.thp_setting() == "madvise":
            assert small.huge_bytes() == 0


# --- the copy kernels -------------------------------------------------------------------------


def reference_shares(call_start, page_bytes, pages_per_call, threads):
    """Plain Python: pages split among threads, or cache lines when pages are fewer."""
    unit = page_bytes if pages_per_call >= threads else 64
    units = pages_per_call * page_bytes // unit
    return [(call_start + t * units // threads * unit, call_start + (t + 1) * units // threads * unit)
            for t in range(threads)]


@settings(deadline=None)  # the first example compiles the kernel
@given(st.sampled_from([4096, 65536, 2 * MIB]), st.integers(1, 600), st.integers(1, 64), st.integers(0, 9))
def test_thread_shares_tile_the_call(page_bytes, pages, threads, call):
    start = call * page_bytes * pages
    shares = [tuple(_copy._share(start, page_bytes, pages, threads, t)) for t in range(threads)]
    assert shares == reference_shares(start, page_bytes, pages, threads)
    assert shares[0][0] == start and shares[-1][1] == start + page_bytes * pages
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([4096, 8192, 65536]), st.integers(1, 7), st.integers(1, _copy.max_threads()),
       st.data())
def test_copy_matches_the_source_and_stops_at_the_last_call(page_bytes, pages, threads, data):
    size = 1 * MIB
    fit_calls = size // (page_bytes * pages)
    calls = data.draw(st.integers(1, fit_calls))
    rng = np.random.default_rng(page_bytes + pages + threads + calls)
    with numa.Region(size) as src, numa.Region(size) as dst:
        src.array[:] = rng.integers(0, 256, size, dtype=np.uint8)
        dst.array[:] = 7
        copied = _copy.copy_pages(src.array, dst.array, page_bytes, pages, threads, calls=calls)
        assert copied == calls * pages * page_bytes
        assert np.array_equal(dst.array[:copied], src.array[:copied])
        assert (dst.array[copied:] == 7).all()


def test_big_blocks_use_the_interleaved_path_correctly():
    size = 8 * MIB
    with numa.Region(size) as src, numa.Region(size) as dst:
        src.array[:] = np.arange(size, dtype=np.uint64).astype(np.uint8) ^ 0x5A
        for threads in sorted({1, _copy.max_threads()}):
            dst.array[:] = 0
            _copy.copy_pages(src.array, dst.array, 2 * MIB, 1, threads)
            assert np.array_equal(dst.array, src.array)


def test_copy_refuses_what_would_corrupt_memory():
    with numa.Region(1 * MIB) as src, numa.Region(1 * MIB) as dst:
        with pytest.raises(ValueError, match="64-byte boundary"):
            _copy.copy_pages(src.array[8:8 + 4096 * 4], dst.array[8:8 + 4096 * 4], 4096, 1)
        with pytest.raises(ValueError, match="differ in size"):
            _copy.copy_pages(src.array, dst.array[: 512 * 1024], 4096, 1)
        with pytest.raises(ValueError, match="threads=.* must be from 1"):
            _copy.copy_pages(src.array, dst.array, 4096, 1, threads=_copy.max_threads() + 1)
        with pytest.raises(ValueError, match="power of two"):
            _copy.copy_pages(src.array, dst.array, 3000, 1)
        with pytest.raises(ValueError, match="calls=.* out of range"):
            _copy.copy_pages(src.array, dst.array, 4096, 1, calls=1000)
        with pytest.raises(TypeError, match="uint8"):
            _copy.copy_pages(src.array.view(np.uint32), dst.array.view(np.uint32), 4096, 1)


# --- plans ------------------------------------------------------------------------------------


def test_single_node_plan_says_so_and_skips_migration_unless_asked(monkeypatch):
    monkeypatch.setattr(numa, "nodes", lambda root=None: [numa.Node(0, (0, 1), 8 << 30)])
    plan = tiny_plan()
    assert plan.single_node and plan.source == plan.target == 0
    assert plan.syscall == ()
    assert any("one NUMA node" in m and "cannot be measured" in m for m in plan.messages)
    same = tiny_plan(same_node=True)
    assert same.syscall and same.target == 0
    assert "same-node" in measure.syscall_notes(same)


def test_two_node_plan_moves_between_them_and_refuses_one_node_without_same_node(monkeypatch):
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    two = [numa.Node(0, cpus, 8 << 30), numa.Node(1, cpus, 8 << 30)]
    monkeypatch.setattr(numa, "nodes", lambda root=None: two)
    plan = tiny_plan()
    assert (plan.source, plan.target, plan.single_node) == (0, 1, False)
    assert plan.copy_cpus == cpus and plan.cpus_node == 0
    assert measure.copy_notes(plan) == f"node 0 to node 1, threads on node 0 CPUs {','.join(map(str, cpus))}"
    assert not plan.messages  # both nodes have CPUs: nothing to say
    assert plan.syscall
    with pytest.raises(numa.NumaError, match="pass --same-node"):
        tiny_plan(source=1, target=1)
    assert tiny_plan(source=1, same_node=True).target == 1
    assert (tiny_plan(target=1, same_node=True).source, tiny_plan(target=1, same_node=True).target) == (1, 1)
    with pytest.raises(numa.NumaError, match="--same-node stays on one node"):
        tiny_plan(source=0, target=1, same_node=True)
    with pytest.raises(numa.NumaError, match="does not exist"):
        tiny_plan(target=2)


def cpu_less_target(monkeypatch):
    """Node 0 with this process's CPUs, node 1 memory only (how PMEM and CXL memory appear)."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    monkeypatch.setattr(numa, "nodes", lambda root=None: [numa.Node(0, cpus, 8 << 30), numa.Node(1, (), 8 << 30)])
    return cpus


def test_cpu_less_target_runs_the_threads_on_the_source_node(monkeypatch):
    cpus = cpu_less_target(monkeypatch)
    plan = tiny_plan()
    assert (plan.source, plan.target, plan.copy_cpus, plan.cpus_node) == (0, 1, cpus, 0)
    assert any("node 1 has no CPUs" in m and "run on node 0's CPUs" in m for m in plan.messages)
    assert "called on node 0 CPUs" in measure.syscall_notes(plan)
    # Moving from the CPU-less node back: the threads run on the target, the only node with CPUs.
    back = tiny_plan(source=1, target=0)
    assert (back.copy_cpus, back.cpus_node) == (cpus, 0)
    # The RFC's choice (the target node's CPUs) has no CPU to run on here.
    with pytest.raises(numa.NumaError, match="no CPU of node 1 is usable"):
        tiny_plan(cpus_of="target")
    assert tiny_plan(source=1, target=0, cpus_of="target").cpus_node == 0
    with pytest.raises(ValueError, match="cpus_of='middle'"):
        tiny_plan(cpus_of="middle")


def test_threads_are_limited_to_the_pinned_node(monkeypatch):
    first = min(os.sched_getaffinity(0))
    monkeypatch.setattr(numa, "nodes", lambda root=None: [numa.Node(0, (first,), 8 << 30), numa.Node(1, (), 8 << 30)])
    assert measure.make_plan(quick=True).threads == (1,)  # the default stops at the node's one CPU
    if _copy.max_threads() > 1:
        with pytest.raises(ValueError, match=f"from 1 to 1: they run on node 0's usable CPUs \\[{first}\\]"):
            tiny_plan(threads=[1, 2])
    # CPUs outside this process's affinity do not count.
    outside = max(os.sched_getaffinity(0)) + 1
    monkeypatch.setattr(numa, "nodes", lambda root=None: [numa.Node(0, (outside,), 8 << 30), numa.Node(1, (), 8 << 30)])
    with pytest.raises(numa.NumaError, match="no CPU of node 0 or node 1 is usable"):
        tiny_plan()


def thread_affinities():
    return {int(t.name): os.sched_getaffinity(int(t.name)) for t in Path("/proc/self/task").iterdir()}


def test_pinning_moves_every_thread_and_restores_them():
    first = min(os.sched_getaffinity(0))
    before = thread_affinities()
    with numa.pin_threads([first]):
        assert all(mask == {first} for mask in thread_affinities().values())
    after = thread_affinities()
    assert all(after[tid] == mask for tid, mask in before.items() if tid in after)
    with pytest.raises(ValueError, match="at least one CPU"):
        numa.pin_threads([])


def test_run_on_a_cpu_less_target_is_pinned_and_says_so(monkeypatch, tmp_path):
    """The whole run on a (pretended) two-node machine whose node 1 has no CPUs: the kernel
    here has one node, so the pages stay on node 0 and the file must say they did not move."""
    cpus = cpu_less_target(monkeypatch)
    seen = []
    real_copy = measure.measure_copy

    def copy_and_look(*args, **kwargs):
        seen.append(os.sched_getaffinity(0))
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(measure, "measure_copy", copy_and_look)
    # This kernel has no node 1: binding to it is skipped, so the target buffer stays on node 0
    # and the per-page placement check must say so.  move_pages to node 1 would fail: none asked.
    monkeypatch.setattr(numa, "bind", lambda address, length, node: None)
    plan = tiny_plan(page_sizes=[2 * MIB], pages_per_call=[1], threads=[1], buffer_bytes=2 * MIB)
    plan = measure.Plan(**{**measure.asdict(plan), "syscall": ()})
    said = []
    measure.run_measurements(tmp_path / "m.csv", plan, progress=False, echo=said.append)
    assert seen and all(mask == set(cpus) for mask in seen)
    table = load_measurements(tmp_path / "m.csv")
    assert table["notes"].str.contains(f"threads on node 0 CPUs {','.join(map(str, cpus))}").all()
    pages = 2 * MIB // numa.base_page_bytes()
    misplaced = f"target buffer: {pages} of {pages} pages not on node 1 (on node 0 x{pages})"
    assert table["notes"].str.endswith(misplaced).all() and not table["notes"].str.contains("source buffer").any()
    assert f"copy buffers: {misplaced}" in said
    sidecar = json.loads((tmp_path / "m.csv.json").read_text())
    assert sidecar["plan"]["copy_cpus"] == list(cpus)
    assert "Every thread ran on node 0's CPUs" in (tmp_path / "m.csv").read_text()


def test_plan_refuses_bad_choices():
    with pytest.raises(ValueError, match="at least 2"):
        tiny_plan(repeats=1)
    with pytest.raises(ValueError, match="copy threads"):
        tiny_plan(threads=[_copy.max_threads() + 1])
    with pytest.raises(ValueError, match="multiple of 2 MiB"):
        tiny_plan(buffer_bytes=3 * MIB)
    # Calls larger than the buffer are left out, not attempted.
    assert all(p * n <= 4 * MIB for p, n, _ in tiny_plan(pages_per_call=[1, 4]).copy_configs())


def test_no_thp_skips_huge_move_pages_rows_with_a_message(monkeypatch):
    monkeypatch.setattr(numa, "thp_available", lambda root=None: False)
    monkeypatch.setattr(numa, "thp_setting", lambda root=None: "never")
    plan = tiny_plan(same_node=True)
    assert plan.syscall and all(page == numa.base_page_bytes() for page, _ in plan.syscall)
    assert any("huge pages are never" in m for m in plan.messages)


def test_thp_not_obtained_is_reported_not_a_mislabelled_row(monkeypatch, tmp_path):
    monkeypatch.setattr(numa.Region, "huge_bytes", lambda self: 0)
    node = numa.nodes()[0].node
    with pytest.raises(numa.ThpNotObtained, match="transparent huge pages were not obtained"):
        measure.measure_move_pages(2 * MIB, 1, node, node, repeats=2, warmup=0)
    monkeypatch.setattr(numa, "thp_available", lambda root=None: True)
    plan = tiny_plan(same_node=True, page_sizes=[4096], threads=[1], pages_per_call=[1])
    said = []
    measure.run_measurements(tmp_path / "m.csv", plan, progress=False, echo=said.append)
    table = load_measurements(tmp_path / "m.csv")
    assert not ((table["scope"] == "syscall") & (table["page_size"] == 2 * MIB)).any()
    assert ((table["scope"] == "syscall") & (table["page_size"] == 4096)).any()
    assert any("2M x1 skipped: transparent huge pages were not obtained" in line for line in said)
    assert json.loads((tmp_path / "m.csv.json").read_text())["thp_obtained"] is False


# --- the run and its file ---------------------------------------------------------------------


def test_quick_run_writes_schema_rows_and_the_machine(tmp_path):
    out = tmp_path / "m.csv"
    rows = measure.run_measurements(out, tiny_plan(same_node=True), progress=False, echo=lambda m: None)
    table = load_measurements(out)
    assert len(table) == len(rows.rows) == len(tiny_plan().copy_configs()) + len(tiny_plan(same_node=True).syscall)
    copy = table[table["scope"] == "copy"]
    assert set(copy["copy"]) == {"cpu"} and set(copy["workers"]) == set(THREADS)
    assert (copy["batched"] == (copy["n_pages"] > 1)).all()
    assert copy["gbps"].gt(0).all() and copy["gbps_sd"].notna().any()
    assert table["machine"].str.contains("NUMA node").all()
    syscall = table[table["scope"] == "syscall"]
    assert len(syscall) and syscall["notes"].str.startswith("same-node").all()
    assert (syscall["given"] == "time_us").all() and syscall["time_us"].gt(0).all()
    assert (copy["given"] == "gbps").all()
    assert (syscall["workers"] == 1).all() and not syscall["batched"].any()
    sidecar = json.loads((tmp_path / "m.csv.json").read_text())
    assert sidecar["complete"] and sidecar["rows"] == len(table)
    machine = sidecar["machine"]
    assert machine["cores"] >= 1 and machine["numa_nodes"][0]["memory_bytes"] > 0
    assert machine["kernel"] and machine["thp"] in ("always", "madvise", "never", "unsupported")
    assert "# Machine:" in out.read_text()
    if (syscall["page_size"] == 2 * MIB).any():
        assert sidecar["thp_obtained"] is True


def test_existing_file_is_kept_unless_forced(tmp_path):
    out = tmp_path / "m.csv"
    out.write_text("mine\n")
    plan = tiny_plan(page_sizes=[2 * MIB], pages_per_call=[1], threads=[1])
    with pytest.raises(FileExistsError, match="--force"):
        measure.run_measurements(out, plan, progress=False)
    assert out.read_text() == "mine\n"
    measure.run_measurements(out, plan, force=True, progress=False, echo=lambda m: None)
    assert len(load_measurements(out)) == 1
    out.unlink()
    with pytest.raises(FileExistsError, match="m.csv.json exists"):  # the sidecar is guarded too
        measure.run_measurements(out, plan, progress=False)


def test_interrupted_run_leaves_the_finished_rows_and_frees_its_buffers(tmp_path, monkeypatch):
    real = measure.measure_copy
    done = []
    regions = []

    class Tracked(numa.Region):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            regions.append(self)

    monkeypatch.setattr(numa, "Region", Tracked)

    def interrupted(*args, **kwargs):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(measure, "measure_copy", interrupted)
    out = tmp_path / "m.csv"
    with pytest.raises(KeyboardInterrupt) as caught:
        measure.run_measurements(out, tiny_plan(), progress=False, echo=lambda m: None)
    assert len(caught.value.rows.rows) == 2
    assert len(load_measurements(out)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "m.csv.json"]
    sidecar = json.loads((tmp_path / "m.csv.json").read_text())
    assert sidecar["complete"] is False and sidecar["rows"] == 2
    assert len(regions) == 2 and all(region._map is None for region in regions)


def test_ctrl_c_in_a_real_run_keeps_a_valid_file(tmp_path):
    out = tmp_path / "m.csv"
    command = [sys.executable, "-m", "memtier", "measure", "--quick", "--no-progress", "--buffer", "32M",
               "--repeats", "20", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    table = load_measurements(out)
    assert len(table) >= 1
    assert not list(tmp_path.glob("*.partial"))
    if process.returncode == 130:  # interrupted mid-run, as intended (not finished before the signal)
        assert "row(s) finished so far" in err and "Traceback" not in err
        assert len(table) < len(tiny_plan().copy_configs()) + 10
    else:
        assert process.returncode == 0


def test_interrupt_on_the_command_line_says_what_was_kept(tmp_path, monkeypatch, capsys):
    calls = []

    def stop_after_one(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return 1.0, 0.1

    monkeypatch.setattr(measure, "measure_copy", stop_after_one)
    out = tmp_path / "m.csv"
    code = cli.main(["measure", "--quick", "--no-progress", "--buffer", "4M", "--out", str(out)])
    assert code == 130
    assert "keeps the 1 row(s) finished so far" in capsys.readouterr().err
    assert len(load_measurements(out)) == 1


def test_interrupt_before_the_first_row_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(measure, "measure_copy", stop)
    out = tmp_path / "m.csv"
    out.write_text("an earlier run\n")
    code = cli.main(["measure", "--quick", "--no-progress", "--buffer", "4M", "--force", "--out", str(out)])
    assert code == 130 and "nothing written" in capsys.readouterr().err
    assert out.read_text() == "an earlier run\n"


def test_measured_file_fitted_end_to_end(tmp_path, capsys):
    out = tmp_path / "mine.csv"
    assert cli.main(["measure", "--quick", "--no-progress", "--buffer", "4M", "--out", str(out)]) == 0
    assert "rows written" in capsys.readouterr().out
    table = load_measurements(out)
    assert set(table["scope"]) == {"copy"}  # one node, no --same-node: no migration rows
    # Copy rows constrain copy parameters only, whichever way the fit chooses them.
    assert set(identifiable(table)) <= set(measure.COPY_PARAMETERS)
    result = measure.fit_copy(out, bootstrap=0)
    assert result.free and set(result.free) <= set(measure.COPY_PARAMETERS)
    defaults = ModelParams()
    for name in ModelParams.names():
        if name not in measure.COPY_PARAMETERS:
            assert getattr(result.params, name) == getattr(defaults, name), name
    peak = table["gbps"].max()
    start = defaults if defaults.link_gbps >= 1.5 * peak else defaults.replace(link_gbps=2 * peak)
    before = np.sum((table_gbps(start, table) / table["gbps"] - 1) ** 2)
    after = np.sum((result.predict(table) / table["gbps"] - 1) ** 2)
    assert after <= before + 1e-9  # the fit moved towards this machine, never away
    fit_out = tmp_path / "mine.json"
    assert cli.main(["fit", str(out), "--bootstrap", "0", "--out", str(fit_out)]) == 0
    assert "copy_gbps_per_thread" in capsys.readouterr().out and fit_out.exists()


@pytest.mark.parametrize("arguments, words", [
    (["--threads", "1,x"], "--threads must be comma-separated whole numbers"),
    (["--pages", "0"], "--pages must be positive"),
    (["--page-sizes", "3K"], "power of two"),
    (["--buffer", "lots"], "--buffer 'lots'"),
    (["--repeats", "1"], "repeats must be at least 2"),
])
def test_command_line_choices_are_checked_in_one_line(tmp_path, capsys, arguments, words):
    out = tmp_path / "m.csv"
    assert cli.main(["measure", "--quick", "--no-progress", "--out", str(out), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("memtier: error: ") and words in error and error.count("\n") == 1
    assert not out.exists()


def test_measuring_does_not_import_the_fit_or_the_plots():
    """`memtier measure` must start fast on a slow machine (the emulated NUMA guest of
    tests/test_numa_vm.py): `import memtier` is lazy, and measuring needs neither scipy's
    optimiser nor matplotlib."""
    code = ("import sys, memtier, memtier.cli, memtier.measurement.measure; "
            "print(sorted(m for m in ('scipy.optimize', 'matplotlib', 'memtier.model.fitting') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr
    import memtier
    assert memtier.fit_copy is measure.fit_copy and memtier.measurement.numa is numa  # names still there on use
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        memtier.no_such_name


def test_shipped_guest_run_shows_pages_moved_to_the_cpu_less_node():
    """data/numa_guest_run.csv (notebook 07): a run in the two-node guest, with its provenance."""
    from memtier.measurement.datasets import data_path, provenance

    table = load_measurements(data_path("numa_guest_run.csv"))
    syscall = table[table["scope"] == "syscall"]
    assert set(syscall["page_size"]) == {4096, 2 * MIB}
    assert syscall["notes"].str.startswith("move_pages node 0 to node 1, called on node 0 CPUs 0,1").all()
    assert not table["notes"].str.contains("did not move|not on node|same-node").any()
    text = provenance("numa_guest_run.csv")
    assert "NOT PERFORMANCE FIGURES" in text and "node 1: no CPUs" in text and "tests/numa_vm.py" in text


def test_fit_accepts_the_shipped_guest_run(tmp_path, capsys):
    from memtier.measurement.datasets import data_path

    out = tmp_path / "guest_fit.json"
    assert cli.main(["fit", str(data_path("numa_guest_run.csv")), "--bootstrap", "0", "--out", str(out)]) == 0
    assert out.exists() and "syscall" in capsys.readouterr().out


# --- the NUMA guest runner (tests/numa_vm.py), the parts that need no guest --------------------


def test_guest_runner_names_every_missing_tool(monkeypatch, tmp_path):
    import numa_vm

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(numa_vm.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(numa_vm.VmUnavailable) as caught:
        numa_vm.find_tools(kernel=str(tmp_path / "no-vmlinuz"))
    message = str(caught.value)
    for tool in ("vng", "qemu-system-x86_64", "busybox", "no-vmlinuz"):
        assert tool in message
    assert "\n" not in message


def test_guest_script_waits_for_the_host_and_keeps_the_writable_folder(tmp_path):
    import numa_vm

    script = numa_vm.guest_script("memtier measure --quick", tmp_path, ".host-ready")
    assert f"while [ ! -e {tmp_path}/.host-ready ]" in script
    assert f"NUMBA_CACHE_DIR={tmp_path}/numba-cache NUMBA_CPU_NAME=generic" in script
    assert f'{sys.executable} -m memtier "$@"' in script and "( memtier measure --quick )" in script
    top = Path(tmp_path).resolve().parts[1]
    assert f"/run/memtier-host/{top} /{top}" not in script  # never mounted over the writable folder


def test_guest_process_group_is_ended():
    import numa_vm

    process = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    try:
        assert numa_vm._group_alive(process.pid)
        numa_vm._end_group(process.pid)
        assert not numa_vm._group_alive(process.pid)  # the shell and its child, both
    finally:
        process.kill()
        process.wait()


# --- what a run says: the first compile, the rows where stderr is a file, wide spreads ----------


def test_copy_kernels_are_ready_before_the_first_timed_call():
    """``load_copy_kernels`` makes ready exactly the code ``copy_pages`` calls (one thread and
    several): the calls after it compile nothing, so the line said before it covers every
    compile of a run."""
    from memtier._jit import when_compiling

    _copy.load_copy_kernels(threaded=True)
    known = (len(_copy._copy_calls.signatures), len(_copy._copy_calls_threaded.signatures))
    said = []
    with numa.Region(1 * MIB) as src, numa.Region(1 * MIB) as dst, when_compiling(lambda: said.append(1)):
        for threads in THREADS:
            _copy.copy_pages(src.array, dst.array, 4096, 2, threads)
    assert not said
    assert (len(_copy._copy_calls.signatures), len(_copy._copy_calls_threaded.signatures)) == known


def test_first_run_says_it_compiles_and_a_redirected_run_writes_lines_not_a_bar(tmp_path):
    """``memtier measure`` with stderr to a pipe: one line before the copy kernels compile (a
    first run, here an empty numba cache), none when they come from the cache; one line per
    finished row instead of a bar, and no carriage return anywhere."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent),
               NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def one_run(name):
        done = subprocess.run([sys.executable, "-m", "memtier", "measure", "--quick", "--buffer", "4M",
                               "--out", str(tmp_path / name)], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stderr

    first, second = one_run("first.csv"), one_run("second.csv")
    table = load_measurements(tmp_path / "first.csv")

    def row_lines(err):
        return [line for line in err.splitlines() if line.startswith(("memtier measure: copy ",
                                                                      "memtier measure: syscall "))]

    assert first.splitlines()[0] == measure.COMPILING and "\r" not in first
    assert len(row_lines(first)) == len(table) and row_lines(first)[0].startswith("memtier measure: copy 4K x1, 1 ")
    assert measure.COMPILING not in second and "\r" not in second and len(row_lines(second)) == len(table)


def _compile_something_new():
    """A kernel no cache holds: compiling it starts numba's compile event, as a first run does."""
    import numba

    @numba.njit(cache=False)
    def fresh(x):
        return x + 1

    fresh(1)


@pytest.mark.parametrize("progress", [True, False])
def test_the_compile_line_follows_progress(tmp_path, monkeypatch, capsys, progress):
    monkeypatch.setattr(measure, "load_copy_kernels", lambda threaded: _compile_something_new())
    monkeypatch.setattr(measure, "measure_copy", lambda *args, **kwargs: (1.0, 0.1))
    measure.run_measurements(tmp_path / "m.csv", tiny_plan(page_sizes=[4096]), progress=progress,
                             echo=lambda m: None)
    assert capsys.readouterr().err.count(measure.COMPILING) == (1 if progress else 0)


def test_measure_warns_once_when_spreads_are_as_large_as_the_values(tmp_path, monkeypatch, capsys):
    """Rows whose standard deviation is above half their value: one warning line after the
    result, naming how many and which, and what to do; the rows are written as measured."""
    monkeypatch.setattr(measure, "measure_copy", lambda buffers, page_bytes, pages, threads, *rest:
                        (2.0, 1.5 if threads == 1 and pages == 1 else 0.2))
    out = tmp_path / "m.csv"
    assert cli.main(["measure", "--quick", "--no-progress", "--buffer", "4M", "--page-sizes", "4K,2M",
                     "--pages", "1,16", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "rows written" in captured.out
    warning, = [line for line in captured.err.splitlines() if line.startswith("memtier: warning:")]
    assert f"{out}: 2 of {len(load_measurements(out))} rows have a standard deviation above 0.5" in warning
    assert "copy 4K x1, 1 thread: 2 GB/s, sd 1.5" in warning and "copy 2M x1, 1 thread: 2 GB/s" in warning
    assert "x16" not in warning and "without --quick" in warning and "--repeats" in warning
    assert (load_measurements(out)["gbps_sd"] == 1.5).sum() == 2  # kept as measured
    monkeypatch.setattr(measure, "measure_copy", lambda *args, **kwargs: (2.0, 0.9))  # 0.45: below
    assert cli.main(["measure", "--quick", "--no-progress", "--buffer", "4M", "--force", "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
