"""The lackey parser against a slow, obviously correct twin; recording real programs."""
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memtier.traces import _lackey_parser as lackey
from memtier.traces import lackey as traces
from memtier.cli import main
from memtier.traces.lackey import (LackeyFormatError, ValgrindNotFound, convert_lackey, read_trace,
                            parse_lackey, record_trace)

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="valgrind is not installed (apt-get install valgrind); CI installs it")

ACCESS = re.compile(rb"( [LSM] |I  )([0-9a-fA-F]{1,16}),([0-9]{1,12})")
COUNTERS = {b" L ": "loads", b" S ": "stores", b" M ": "modifies", b"I  ": "instruction_lines"}


def reference(text: bytes, page_size=4096, instructions=False):
    """Line by line with a regular expression and a dict: the behaviour the kernel must have."""
    counts = dict.fromkeys(lackey._COUNTER_NAMES, 0)
    lines = text.split(b"\n")
    if lines[-1]:
        counts["truncated_lines"] += 1
    pages, dense, writes = [], {}, []
    for line in lines[:-1]:
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.startswith(b"I  ") and len(line) >= 6 and not instructions:
            counts["instruction_lines"] += 1
            continue
        match = ACCESS.fullmatch(line)
        if match:
            address, size = int(match[2], 16), int(match[3])
            last_byte = min(address + max(size, 1) - 1, (1 << 64) - 1)  # clamped at the top
            first, last = address // page_size, last_byte // page_size
            if last - first + 1 <= lackey.MAX_PAGES_PER_ACCESS:
                for page in range(first, last + 1):
                    pages.append(dense.setdefault(page, len(dense)))
                    writes.append(match[1] in (b" S ", b" M "))
                counts[COUNTERS[match[1]]] += 1
                counts["page_crossings"] += last > first
                continue
        if not line:
            counts["blank_lines"] += 1
        elif line.startswith((b"==", b"--")):
            counts["valgrind_lines"] += 1
        elif line.startswith(b"SB "):
            counts["superblock_lines"] += 1
        else:
            counts["unrecognised_lines"] += 1
    reference.writes = np.array(writes, dtype=bool)
    return np.array(pages, dtype=np.int64), counts


def check_against_reference(text, chunk_bytes, page_size=4096, instructions=False):
    trace = parse_lackey(text, page_size=page_size, instructions=instructions, chunk_bytes=chunk_bytes)
    pages, counts = reference(text, page_size, instructions)
    np.testing.assert_array_equal(trace.pages, pages)
    np.testing.assert_array_equal(trace.writes, reference.writes)  # S and M lines write
    assert {name: trace.info[name] for name in counts} == counts
    assert trace.info["accesses"] == len(pages)
    assert trace.info["distinct_pages"] == (pages.max() + 1 if len(pages) else 0)
    return trace


access_line = st.builds(
    lambda kind, address, size, upper: (kind + (f"{address:X}" if upper else f"{address:08x}") + f",{size}"),
    st.sampled_from([" L ", " S ", " M ", "I  "]),
    st.one_of(st.integers(0, 1 << 20), st.integers(0, (1 << 64) - 1)),
    st.sampled_from([1, 2, 4, 8, 16, 64, 4096, 300000]),
    st.booleans())
other_line = st.sampled_from(["==4492== Command: sort", "--4492-- warning", "", "SB 04001f40",
                              " L zz,8", " L 1000", "I  04001f40,3", " X 1000,8", "\r"])


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.one_of(access_line, access_line, access_line, other_line), min_size=1, max_size=80),
       cut=st.integers(0, 12), chunk_bytes=st.integers(64, 200), page_size=st.sampled_from([4096, 1 << 21]),
       instructions=st.booleans(), crlf=st.booleans())
def test_kernel_agrees_with_reference(lines, cut, chunk_bytes, page_size, instructions, crlf):
    text = ("\r\n" if crlf else "\n").join(lines).encode() + b"\n"
    text = text[:len(text) - cut] if cut < len(text) else text
    pages, counts = reference(text, page_size, instructions)
    known = sum(counts[name] for name in lackey._COUNTER_NAMES[:lackey._UNRECOGNISED])
    if counts["unrecognised_lines"] > known or not any(counts[name] for name in COUNTERS.values()):
        with pytest.raises(LackeyFormatError):
            parse_lackey(text, page_size=page_size, instructions=instructions, chunk_bytes=chunk_bytes)
    else:
        check_against_reference(text, chunk_bytes, page_size, instructions)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.one_of(access_line, access_line, access_line, other_line), min_size=1, max_size=80),
       cut=st.integers(0, 12), chunk_bytes=st.integers(64, 200), workers=st.integers(1, 4),
       page_size=st.sampled_from([4096, 1 << 21]), instructions=st.booleans())
def test_file_parser_on_several_cores_agrees_with_reference(tmp_path_factory, lines, cut, chunk_bytes,
                                                            workers, page_size, instructions):
    """A file is cut into slices parsed by several workers and merged: the same trace as one core."""
    text = "\n".join(lines).encode() + b"\n"
    text = text[:len(text) - cut] if cut < len(text) else text
    path = tmp_path_factory.mktemp("logs") / "prog.lackey"
    path.write_bytes(text)
    pages, counts = reference(text, page_size, instructions)
    known = sum(counts[name] for name in lackey._COUNTER_NAMES[:lackey._UNRECOGNISED])
    if counts["unrecognised_lines"] > known or not any(counts[name] for name in COUNTERS.values()):
        with pytest.raises(LackeyFormatError):
            parse_lackey(path, page_size=page_size, instructions=instructions, chunk_bytes=chunk_bytes,
                         workers=workers)
        return
    trace = parse_lackey(path, page_size=page_size, instructions=instructions, chunk_bytes=chunk_bytes,
                         workers=workers)
    np.testing.assert_array_equal(trace.pages, pages)
    assert {name: trace.info[name] for name in counts} == counts
    assert trace.info["distinct_pages"] == (pages.max() + 1 if len(pages) else 0)
    one_core = parse_lackey(text, page_size=page_size, instructions=instructions)
    np.testing.assert_array_equal(trace.page_addresses, one_core.page_addresses)


def test_many_workers_many_pages(tmp_path):
    """Tables that grow in every worker and in the merge; first-touch numbering kept."""
    rng = np.random.default_rng(11)
    addresses = 8 * rng.integers(0, 1 << 37, 60_000)  # aligned: no access straddles two pages
    text = "".join(f" S {a:x},8\n" for a in addresses).encode()
    path = tmp_path / "wide.lackey"
    path.write_bytes(text)
    trace = parse_lackey(path, chunk_bytes=4096, workers=3)
    np.testing.assert_array_equal(trace.pages, reference(text)[0])
    np.testing.assert_array_equal(trace.page_addresses[trace.pages], (addresses >> 12) << 12)


def test_parallel_parse_stops_its_workers_on_an_error(tmp_path):
    """An error in the merge (here the sink, as a full disk would) or in a worker (a log that
    turns out not to be lackey's) is raised once, and no worker thread is left running."""
    import threading

    rng = np.random.default_rng(3)
    text = "".join(f" L {a:x},8\n" for a in 8 * rng.integers(0, 1 << 30, 20_000)).encode()
    path = tmp_path / "log.lackey"
    path.write_bytes(text)
    calls = []

    def failing_sink(pages):
        calls.append(pages.size)
        if len(calls) == 3:
            raise OSError("no space left on device")

    with pytest.raises(OSError, match="no space left"):
        lackey.parse_file(path, 4096, False, 4096, failing_sink, workers=2)
    assert len(calls) == 3  # nothing merged after the error
    garbage = tmp_path / "garbage.lackey"
    garbage.write_bytes(b"not a lackey line at all\n" * 20_000)
    with pytest.raises(LackeyFormatError, match="are not lackey lines"):
        lackey.parse_file(garbage, 4096, False, 4096, lambda pages: None, workers=3)
    assert not [t for t in threading.enumerate() if t.name.startswith("memtier-lackey-")]


def test_small_log_exactly():
    text = (b"==1== Lackey\nI  04001f40,3\n L 00001000,8\n S 00002ffc,8\n M 00001008,4\n"
            b" L 00005000,1\n L 00002000,4\n==1== Exit code: 0\n")
    trace = parse_lackey(text)
    # 0x1000 -> 0, 0x2ffc+8 crosses into 0x3000 -> 1 and 2, 0x1008 -> 0, 0x5000 -> 3, 0x2000 -> 1
    np.testing.assert_array_equal(trace.pages, [0, 1, 2, 0, 3, 1])
    np.testing.assert_array_equal(trace.writes, [False, True, True, True, False, False])
    assert trace.pages.dtype == np.int32
    assert (trace.info["loads"], trace.info["stores"], trace.info["modifies"]) == (3, 1, 1)
    assert trace.info["instruction_lines"] == 1 and trace.info["valgrind_lines"] == 2
    assert trace.info["page_crossings"] == 1 and trace.info["distinct_pages"] == 4
    np.testing.assert_array_equal(trace.page_addresses, [0x1000, 0x2000, 0x3000, 0x5000])
    with_code = parse_lackey(text, instructions=True)
    np.testing.assert_array_equal(with_code.pages, [0, 1, 2, 3, 1, 4, 2])
    huge = parse_lackey(text, page_size="2M")
    np.testing.assert_array_equal(huge.pages, [0, 0, 0, 0, 0])  # no crossing at 2 MiB


def test_truncated_last_line_and_overlong_line():
    text = b" L 1000,8\n" + b"x" * 500 + b"\n L 2000,8\n L 3000,8\n S 40"
    trace = parse_lackey(text, chunk_bytes=64)
    np.testing.assert_array_equal(trace.pages, [0, 1, 2])
    assert trace.info["truncated_lines"] == 1 and trace.info["unrecognised_lines"] == 1


def test_many_distinct_pages_grow_the_table():
    rng = np.random.default_rng(1)
    pages = rng.integers(0, 1 << 40, 50_000)
    pages = np.concatenate([pages, pages[::-1], rng.integers(0, 1 << 40, 150_000)])
    text = "".join(f" L {page << 12:x},8\n" for page in pages.tolist()).encode()
    trace = parse_lackey(text, chunk_bytes=1 << 16)
    _, first_seen, inverse = np.unique(pages, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_seen))  # dense id = rank of first touch
    np.testing.assert_array_equal(trace.pages, order[inverse])
    np.testing.assert_array_equal(trace.page_addresses[trace.pages], pages << 12)


def test_chunk_boundaries_do_not_matter():
    rng = np.random.default_rng(2)
    kinds = rng.choice([" L ", " S ", " M ", "I  "], 3000)
    text = "".join(f"{k}{a:08x},{s}\n" for k, a, s in zip(
        kinds, rng.integers(0, 1 << 24, 3000), rng.choice([1, 4, 8, 4000], 3000))).encode()
    whole = parse_lackey(text).pages
    for chunk_bytes in range(64, 96):
        np.testing.assert_array_equal(parse_lackey(text, chunk_bytes=chunk_bytes).pages, whole)
    check_against_reference(text, 77)


@pytest.mark.parametrize("content", [
    b"",
    b"page,time\n1,2\n3,4\n5,6\n",
    bytes(range(256)) * 64,
    b"==1== only valgrind talking\n==1== \n",
])
def test_not_lackey_is_refused(tmp_path, content):
    path = tmp_path / "not.lackey"
    path.write_bytes(content)
    with pytest.raises(LackeyFormatError, match="not a lackey log"):
        parse_lackey(path)
    assert main(["trace", "convert", str(path), "--out", str(tmp_path / "t.npy")]) == 2
    assert not (tmp_path / "t.npy").exists() and not list(tmp_path.glob(".*partial"))


def test_convert_writes_npy_and_sidecar_and_never_overwrites(tmp_path, capsys):
    log = tmp_path / "prog.lackey"
    log.write_bytes(b"==7== Command: prog\n L 1000,8\n S 9000,4\nI  1000,2\n L 1004,4\n L 20")
    out = tmp_path / "prog.npy"
    assert main(["trace", "convert", str(log), "--out", str(out)]) == 0
    pages = np.load(out)
    assert pages.dtype == np.int32
    np.testing.assert_array_equal(pages, [0, 1, 0])
    info = json.loads((tmp_path / "prog.json").read_text())
    assert info["accesses"] == 3 and info["distinct_pages"] == 2 and info["page_size"] == 4096
    assert (info["loads"], info["stores"], info["instruction_lines"], info["truncated_lines"]) == (2, 1, 1, 1)
    assert read_trace(out).info == info
    assert info["writes_file"] == "prog.writes.npy"
    np.testing.assert_array_equal(np.load(tmp_path / "prog.writes.npy"), [0, 1, 0])
    np.testing.assert_array_equal(read_trace(out).writes, [False, True, False])
    before = out.read_bytes()
    log.write_bytes(b" L 5000,8\n")
    assert main(["trace", "convert", str(log), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    with pytest.raises(FileExistsError):
        convert_lackey(log, out)
    assert main(["trace", "convert", str(log), "--out", str(out), "--force", "--page-size", "2M"]) == 0
    assert np.load(out).tolist() == [0] and read_trace(out).info["page_size"] == 2 << 20


def test_valgrind_missing_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(traces.shutil, "which", lambda name: None)
    with pytest.raises(ValgrindNotFound, match="apt-get install valgrind"):
        record_trace(["true"])
    assert main(["trace", "record", "--out", str(tmp_path / "t.npy"), "--", "true"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "conda install -c conda-forge valgrind" in err


@needs_valgrind
def test_record_a_real_program(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["pear", "apple", "fig", "kiwi"] * 50) + "\n")
    trace = record_trace(["sort", str(words)], program_output=subprocess.DEVNULL)
    info = trace.info
    assert info["source"]["exit_status"] == 0 and info["source"]["program"][0] == "sort"
    assert info["accesses"] == trace.pages.size > 10_000
    assert info["loads"] > info["stores"] > info["modifies"] > 0
    assert info["instruction_lines"] > info["loads"] and info["valgrind_lines"] > 0
    assert info["unrecognised_lines"] == 0 and info["truncated_lines"] == 0
    assert info["loads"] + info["stores"] + info["modifies"] + info["page_crossings"] == info["accesses"]
    # dense, first-touch order: each new page number is one more than the largest so far
    assert trace.pages.min() == 0 and trace.pages.max() + 1 == info["distinct_pages"]
    seen = np.maximum.accumulate(trace.pages)
    assert np.all(np.diff(seen) <= 1)
    assert len(np.unique(trace.page_addresses)) == info["distinct_pages"]


@needs_valgrind
def test_record_of_a_failing_program_says_what_the_trace_is(tmp_path, capsys):
    """'sort words.txt' without a words.txt is recorded (a failing run can be what is studied),
    and the last line says the trace is of that failed run, not only its status."""
    out = tmp_path / "sort.npy"
    assert main(["trace", "record", "--out", str(out), "--quiet", "--", "sort", str(tmp_path / "words.txt")]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "exited with status 2" in last and "the trace is of that run" in last and out.exists()


@needs_valgrind
def test_record_command_line(tmp_path, capsys):
    out = tmp_path / "ls.npy"
    assert main(["trace", "record", "--out", str(out), "--quiet", "--", "ls", str(tmp_path)]) == 0
    pages = np.load(out)
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["source"]["program"] == ["ls", str(tmp_path)]
    assert pages.dtype == np.int32 and pages.size == info["accesses"] > 0
    assert pages.max() + 1 == info["distinct_pages"]
    # the simulator takes the file as it is
    assert main(["simulate", "--trace", str(out), "--fast-capacity", "8", "--policy", "lru", "--quiet"]) == 0
    assert f"{pages.size} accesses" in capsys.readouterr().out
    assert main(["trace", "record", "--out", str(out), "--", "ls"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["trace", "record", "--out", str(tmp_path / "x.npy"), "--", "no-such-program-xyz"]) == 2
    assert "not found" in capsys.readouterr().err
    broken = tmp_path / "broken.sh"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    with pytest.raises(LackeyFormatError, match="no usable memory accesses"):
        record_trace([str(broken)], tmp_path / "x.npy", program_output=subprocess.DEVNULL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.sh", "ls.json", "ls.npy", "ls.writes.npy"]


def test_popularity_and_heatmap():
    pages = np.array([0, 1, 0, 2, 0, 1, 3, 0])
    np.testing.assert_allclose(traces.popularity(pages), [4 / 8, 6 / 8, 7 / 8, 1.0])
    grid = traces.heatmap(pages, time_bins=2, page_bins=2)
    # first half of time: pages 0,1,0,2 -> band 0 gets 3, band 1 gets 1; second: 0,1,3,0 -> 3, 1
    np.testing.assert_array_equal(grid, [[3, 3], [1, 1]])
    assert traces.heatmap(pages, time_bins=5, page_bins=100).shape == (4, 5)
    assert traces.heatmap(pages, 3, 3).sum() == pages.size
    with pytest.raises(ValueError, match="non-empty"):
        traces.popularity([])


def test_coarsen_folds_pages():
    text = b" L 1000,8\n L 201000,8\n L 2000,8\n L 400000,8\n L 1008,8\n"
    small = parse_lackey(text)
    np.testing.assert_array_equal(small.pages, [0, 1, 2, 3, 0])
    big = traces.coarsen(small, "2M")
    np.testing.assert_array_equal(big.pages, [0, 1, 0, 2, 0])
    assert big.info["distinct_pages"] == 3 and big.info["page_size"] == 2 << 20
    np.testing.assert_array_equal(big.pages, parse_lackey(text, page_size="2M").pages)
    np.testing.assert_array_equal(big.page_addresses, [0, 0x200000, 0x400000])
    with pytest.raises(ValueError, match="smaller"):
        traces.coarsen(big, "4K")


def test_write_and_read_trace(tmp_path):
    trace = traces.Trace(pages=np.array([0, 2, 1, 2], dtype=np.int64), info={"source": "by hand"})
    path = traces.write_trace(trace, tmp_path / "t.npy")
    back = traces.read_trace(path)
    assert back.pages.dtype == np.int32 and back.pages.tolist() == [0, 2, 1, 2]
    assert back.info == {"source": "by hand", "accesses": 4, "distinct_pages": 3} and back.writes is None
    flagged = traces.Trace(pages=trace.pages, writes=np.array([True, False, False, True]))
    path = traces.write_trace(flagged, tmp_path / "w.npy")
    assert traces.read_trace(path).writes.tolist() == [True, False, False, True]
    with pytest.raises(FileExistsError):
        traces.write_trace(trace, path)
    with pytest.raises(ValueError, match="dense"):
        traces.write_trace(traces.Trace(pages=np.array([0, 5])), tmp_path / "u.npy", force=True)
    with pytest.raises(ValueError, match=r"\.npy"):
        traces.write_trace(trace, tmp_path / "t.txt")


def test_convert_memory_does_not_grow_with_the_log(tmp_path):
    import tracemalloc

    rng = np.random.default_rng(3)
    block = "".join(f" L {8 * a:x},8\n" for a in rng.integers(0, 1 << 23, 10_000)).encode()
    peaks = []
    for blocks in (100, 200):  # 10 and 20 MB, one and two million accesses
        log = tmp_path / f"big{blocks}.lackey"
        with open(log, "wb") as out:
            for _ in range(blocks):
                out.write(block)
        convert_lackey(log, tmp_path / "warm.npy", chunk_bytes=1 << 16, workers=2, force=True)  # compile
        tracemalloc.start()
        info = convert_lackey(log, tmp_path / f"big{blocks}.npy", chunk_bytes=1 << 16, workers=2)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert info["accesses"] == blocks * 10_000 and np.load(tmp_path / f"big{blocks}.npy").size == blocks * 10_000
    # buffers and the page tables of two workers and the merge (~16k pages each): the same for
    # both logs, and well under the 8 MB the longer trace itself takes
    assert peaks[1] < 1.1 * peaks[0] + 100_000 and peaks[1] < 4_000_000, f"peaks {peaks} bytes"


def test_the_kernels_are_loaded_for_the_types_the_parsers_pass(tmp_path):
    """``_load_kernels`` readies each kernel for the argument types the file and stream parsers
    pass, so no call compiles a second version (a mismatch would add one and cost start-up),
    and, the cache being warm, without numba's whole target (``numba.np.arraymath`` stays
    unloaded); the trace is the twin's."""
    from memtier import _jit

    text = b"".join(b" L %x,8\n S %x,4\n" % (4096 * i, 4096 * i + 4094) for i in range(40_000))
    log = tmp_path / "wide.lackey"  # 40k pages and 40k crossings: the tables grow (_rehash)
    log.write_bytes(text)
    code = (
        "import sys, numpy as np\n"
        "from memtier.traces import _lackey_parser as parser\n"
        "from memtier.traces.lackey import convert_lackey, parse_lackey\n"
        f"convert_lackey({str(log)!r}, {str(tmp_path / 'w.npy')!r}, workers=2, chunk_bytes=1 << 16, force=True)\n"
        f"parse_lackey(open({str(log)!r}, 'rb'), chunk_bytes=1 << 16)\n"
        "kernels = (parser._parse_lackey, parser._rehash, parser._merge_ids)\n"
        "print([len(k.overloads) for k in kernels], 'numba.np.arraymath' in sys.modules)\n")
    for _ in range(2):  # the first may compile (a cold cache); the second loads
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    overloads, whole_target = done.stdout.split("] ")
    assert overloads == "[2, 1, 1"  # the parse for read-only (mapped) and writable (streamed) bytes
    assert whole_target.strip() == str(not _jit._QUICK_LOAD)
    pages, counts = reference(text)
    assert np.array_equal(np.load(tmp_path / "w.npy"), pages) and counts["page_crossings"] == 40_000
