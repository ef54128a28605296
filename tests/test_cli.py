"""The command line end to end, as a user types it: results, one-line errors, --help examples."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from memtier import cli
from memtier.cli import main
from memtier.measurement.datasets import data_path, rfc_2019


def run(*args):
    return subprocess.run([sys.executable, "-m", "memtier", *args], capture_output=True, text=True)


def test_reproduce_writes_every_output(tmp_path):
    from memtier.reproduce import OUTPUTS

    out = tmp_path / "results"
    assert main(["reproduce", "--out", str(out), "--quick"]) == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    summary = (out / "summary.md").read_text()
    assert "median |error|" in summary and "leave one configuration out" in summary
    # The other machines' line names every machine its counts include (the RFC's own, from
    # another mail, was counted but not named).
    import pandas as pd

    machines = pd.read_csv(out / "other_machines.csv")["machine"].unique()
    line = next(line for line in summary.splitlines() if line.startswith("- other published figures"))
    rfc = [name for name in machines if name not in line]
    assert len(rfc) == 1 and "the RFC's own machine (another mail)" in line
    assert f"of {len(pd.read_csv(out / 'other_machines.csv'))} rows" in line
    # A second run keeps what is there unless asked.
    done = run("reproduce", "--out", str(out), "--quick")
    assert done.returncode == 2 and "already holds" in done.stderr and "Traceback" not in done.stderr


def test_reproduce_shows_progress(tmp_path, monkeypatch, capsys):
    """Each step says what it is doing on stderr, the result line goes to stdout."""
    import memtier.reproduce as reproduce_module

    seen = []
    monkeypatch.setattr(reproduce_module, "fit", lambda *a, **k: seen.append("fit") or (_ for _ in ()).throw(
        KeyboardInterrupt))  # stop after the first step: the messages before it are what we check
    assert main(["reproduce", "--out", str(tmp_path / "r"), "--quick"]) == 130
    err = capsys.readouterr().err
    assert "memtier reproduce: fitting the cost model to the RFC's 52 figures" in err and seen == ["fit"]


def test_fit_then_predict(tmp_path, capsys):
    saved = tmp_path / "rfc.json"
    assert main(["fit", str(data_path("zi_yan_2019_rfc.csv")), "--bootstrap", "10", "--out", str(saved)]) == 0
    report = capsys.readouterr().out
    assert "copy_gbps_per_thread" in report and saved.exists()
    assert main(["predict", str(saved), "--page-size", "2M", "--pages", "16", "--workers", "8",
                 "--batched"]) == 0
    line, echo = capsys.readouterr().out.splitlines()
    gbps = float(line.split()[0])
    # The RFC measured 9.023 GB/s for this configuration.
    assert gbps == pytest.approx(9.023, rel=0.15)
    assert "interval" in line
    # the configuration it computed, in words
    assert echo.startswith("for: 16 x 2M pages, 8 copy threads, batched, migrated, timer scope migrate")
    assert main(["predict", str(saved), "--page-size", "4K", "--dma", "--scope", "syscall"]) == 0
    assert "1 x 4K page, 1 DMA channel, one page at a time, migrated, timer scope syscall" in capsys.readouterr().out


def test_fit_source_effect_flag():
    """--source-effect on where the rows cannot carry it: one line, status 2, before any fit."""
    done = run("fit", str(data_path("zi_yan_2019_rfc.csv")), "--source-effect", "on", "--bootstrap", "0")
    assert done.returncode == 2 and "source_effect=True needs DMA rows from two or more sources" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    wrong = run("fit", str(data_path("zi_yan_2019_rfc.csv")), "--source-effect", "maybe")
    assert wrong.returncode == 2 and "--source-effect" in wrong.stderr


def test_fit_repr_is_one_line(tmp_path):
    from memtier import default_fit

    text = repr(default_fit())
    assert "\n" not in text and len(text) < 200 and "parameters fitted" in text


def test_simulate_mix_workload(capsys):
    assert main(["simulate", "--workload", "mix", "--pages", "2000", "--accesses", "40000",
                 "--fast-capacity", "10%", "--policy", "static", "--quiet"]) == 0
    assert "40000 accesses" in capsys.readouterr().out
    from types import SimpleNamespace

    from memtier.cli import _generated_trace

    args = SimpleNamespace(workload="mix", mix_of="zipf,scan", pages=2000, accesses=40000, seed=0, alpha=1.0,
                           hot_fraction=0.1, hot_probability=0.9, phases=1)
    trace = _generated_trace(args)
    # scan's half of the pages (1000..1999) is swept in order, zipf's half is skewed
    scan = trace[trace >= 1000]
    assert trace.size == 40000 and scan.size == 20000 and np.array_equal(scan[:1000], np.arange(1000, 2000))
    assert main(["simulate", "--workload", "mix", "--mix-of", "zipf,warp", "--pages", "10", "--accesses", "10",
                 "--fast-capacity", "2"]) == 2
    assert "--mix-of" in capsys.readouterr().err


def test_simulate_table_shows_no_nan(capsys):
    """Metrics a policy has no value for print as '-' with a line saying why, not as NaN."""
    assert main(["simulate", "--pages", "1000", "--accesses", "20000", "--fast-capacity", "10%",
                 "--policy", "static,active-shrink", "--quiet"]) == 0
    out = capsys.readouterr().out
    static = next(line for line in out.splitlines() if line.startswith("static "))
    assert "NaN" not in out and static.split()[4:6] == ["-", "-"]
    assert "-: not defined" in out


def test_fit_with_free_and_base(tmp_path, capsys):
    base = tmp_path / "base.json"
    main(["fit", str(data_path("zi_yan_2019_rfc.csv")), "--bootstrap", "0", "--out", str(base)])
    capsys.readouterr()
    assert main(["fit", str(data_path("other_published_migration.csv")), "--free",
                 "syscall_call_us,copy_gbps_per_thread", "--base", str(base), "--bootstrap", "0"]) == 0
    assert "syscall_call_us" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["fit", "absent.csv"], "no such file"),
    (["fit", "{bad}"], "row 1, column 'copy'"),
    (["fit", "{good}", "--free", "warp"], "unknown parameter"),
    (["predict", "absent.json"], "no such file"),
    (["predict", "{good}"], "not a memtier fit"),
])
def test_errors_are_one_line(tmp_path, args, words):
    bad = tmp_path / "bad.csv"
    bad.write_text("page_size,n_pages,copy,workers,batched,exchange,scope,gbps\n2M,1,gpu,1,False,False,copy,2\n")
    args = [a.format(bad=bad, good=data_path("zi_yan_2019_rfc.csv")) for a in args]
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr


@pytest.mark.parametrize("command", ["reproduce", "fit", "predict", "simulate", "sweep", "measure", "trace",
                                     "trace record", "trace convert", "trace damon"])
def test_help_shows_an_example(command):
    done = run(*command.split(), "--help")
    assert done.returncode == 0 and "example" in done.stdout and f"memtier {command}" in done.stdout


#: Options whose help rightly states no default: each is an addition with nothing in its place.
NO_DEFAULT = {"simulate --trace", "simulate --param", "sweep --param", "sweep --scheduler", "trace damon --trace"}


def test_every_option_says_its_default():
    """Each option that takes a value and may be left out says what happens then, or when it is
    needed (kernel-check's options are its own reference's, docs/kernel-check.md)."""
    import argparse

    from memtier.cli import _flag, _subparsers, build_parser

    def commands(parser, prefix=""):
        for name, sub in _subparsers(parser):
            yield prefix + name, sub
            yield from commands(sub, prefix + name + " ")

    silent = []
    for name, sub in commands(build_parser()):
        for action in sub._actions:
            takes_value = action.option_strings and action.nargs is None and not isinstance(
                action, (argparse._StoreConstAction, argparse._HelpAction))
            key = f"{name} {_flag(action)}"
            if (takes_value and not action.required and name != "kernel-check" and key not in NO_DEFAULT
                    and not any(word in (action.help or "") for word in ("default", "required with"))):
                silent.append(key)
    assert not silent


def test_the_docs_python_snippets_define_every_name_they_use():
    """A reader pastes the README's and docs' Python blocks in order: each name a block reads is
    imported or assigned in it or an earlier block of the same page (the README's fit block read a
    placeholder, configurations_dataframe; docs/classifiers.md's read trace and memtier unset)."""
    import ast
    import builtins
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    unset = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        bound = set(dir(builtins))
        for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            tree = ast.parse(block)
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    bound.add(node.id)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    bound.add(node.name)
                elif isinstance(node, ast.arg):
                    bound.add(node.arg)
            unset += [f"{page.name}: {node.id}" for node in ast.walk(tree)
                      if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound]
    assert not unset


def test_the_docs_python_snippets_reach_memtier_through_its_public_names():
    """Each ``memtier.a.b...`` a README or docs Python block reads starts at a name ``import
    memtier`` gives (``memtier.__all__``), and the rest of it exists.  ``memtier.simulation`` is
    not one: it is set only once something imports the subpackage, so the README's
    ``memtier.simulation.policies.parameters("tpp")`` after ``import memtier`` alone raised
    AttributeError (``memtier.policies`` is the public name)."""
    import re
    from pathlib import Path

    import memtier

    root = Path(__file__).resolve().parent.parent
    wrong = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        blocks = re.findall(r"```python\n(.*?)```", text, re.S)
        # prose: a call on memtier shown in backquotes, e.g. `memtier.policies.parameters("tpp")`
        blocks += re.findall(r"`(memtier\.[\w.]+\(.*?\))`", text)
        for block in blocks:
            for chain in re.findall(r"(?<![\w.])memtier((?:\.\w+)+)", block):
                names = chain.lstrip(".").split(".")
                if names[0] not in memtier.__all__:
                    wrong.append(f"{page.name}: memtier{chain} (memtier.{names[0]} is not public)")
                    continue
                value = memtier
                for name in names:
                    if not hasattr(value, name):
                        wrong.append(f"{page.name}: memtier{chain} (no {name})")
                        break
                    value = getattr(value, name)
    assert not wrong


def test_import_is_light_and_trace_convert_needs_no_pandas(tmp_path):
    """`import memtier` loads no pandas, scipy or matplotlib; `memtier trace convert` never does."""
    log = tmp_path / "prog.lackey"
    log.write_bytes(b" L 1000,8\n S 2000,4\n")
    code = (
        "import sys, memtier\n"
        "heavy = ('pandas', 'scipy', 'matplotlib')\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
        "from memtier.cli import main\n"
        f"assert main(['trace', 'convert', {str(log)!r}, '--out', {str(tmp_path / 't.npy')!r}, '--quiet']) == 0\n"
        "assert not [m for m in ('pandas', 'scipy.linalg', 'matplotlib') if sys.modules.get(m)]\n"
        "assert 'scipy.linalg' not in sys.modules  # the probe's stand-in is gone\n"
        "assert memtier.fit is memtier.model.fitting.fit and 'pandas' in sys.modules  # loaded on first use\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_trace_convert_ends_the_process_at_once_with_everything_written(tmp_path):
    """The ``memtier`` program skips Python's teardown after ``trace convert`` (an atexit handler
    does not run), its output and files complete; other commands exit as usual."""
    log = tmp_path / "prog.lackey"
    log.write_bytes(b" L 1000,8\n S 2000,4\nI  0401ab70,3\n")
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('teardown', file=sys.stderr))\n"
            "sys.argv = ['memtier', *sys.argv[1:]]\n"
            "from memtier.cli import run\n"
            "run()\n")

    def memtier(*args):
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)

    out = tmp_path / "t.npy"
    done = memtier("--debug", "trace", "convert", str(log), "--out", str(out), "--quiet")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith(f"wrote {out}: 2 accesses to 2 distinct 4K pages")
    assert np.load(out).tolist() == [0, 1] and np.load(tmp_path / "t.writes.npy").tolist() == [0, 1]
    assert out.with_suffix(".json").exists()
    again = memtier("trace", "convert", str(log), "--out", str(out), "--quiet")  # refused, one line
    assert again.returncode == 2 and again.stderr.startswith("memtier: error: ") and again.stderr.count("\n") == 1
    other = memtier("trace", "damon", str(tmp_path / "missing.data"), "--out", str(tmp_path / "heat.csv"))
    assert other.returncode == 2 and other.stderr.endswith("teardown\n"), other.stderr


# --- progress bars only on a terminal ---------------------------------------------------------


def _lackey_log(path, lines=20_000):
    path.write_text("".join(f" L {0x1000 * (i % 97) + 0x04000000:08x},8\n" for i in range(lines)))
    return path


def test_progress_bars_are_drawn_on_a_terminal_only(tmp_path):
    """stderr a terminal: the bar, redrawn with carriage returns; a file or a pipe: no bar, so
    no half-drawn lines in a log."""
    import fcntl
    import os
    import pty
    import struct
    import termios
    import threading

    log = _lackey_log(tmp_path / "prog.lackey")
    command = [sys.executable, "-m", "memtier", "trace", "convert", str(log), "--force"]
    piped = subprocess.run(command + ["--out", str(tmp_path / "a.npy")], capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns: room for a bar
    drawn = []

    def read():  # while the command runs: a terminal holds only a few KiB unread
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the other end is closed and everything was read
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = subprocess.run(command + ["--out", str(tmp_path / "b.npy")], stdout=subprocess.PIPE,
                              stderr=follower, text=True)
    finally:
        os.close(follower)
        reader.join(timeout=30)
        os.close(leader)
    drawn = b"".join(drawn)
    assert done.returncode == 0 and b"\r" in drawn and b"prog.lackey:" in drawn, drawn


def test_no_bar_reaches_a_captured_stream(tmp_path, capsys):
    """Every tqdm bar of memtier (the simulator's two, a sweep's, a measurement's) asked for with
    progress=True stays off when stderr is not a terminal (here pytest's capture); a
    measurement writes a line per finished row instead."""
    import memtier

    trace = np.arange(3000) % 300
    memtier.simulate(trace, "static", 30, progress=True)
    memtier.simulate(trace, "tpp", 30, progress=True)
    memtier.sweep([trace], "static", [30], workers=1, progress=True)
    plan = memtier.make_plan(quick=True, page_sizes=[4096], pages_per_call=[1], threads=[1], buffer_bytes=1 << 22)
    memtier.run_measurements(tmp_path / "m.csv", plan, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and "simulating" not in err and "%|" not in err
    rows = [line for line in err.splitlines() if "copy 4K" in line]
    assert len(rows) == 1 and rows[0].startswith("memtier measure: copy 4K x1, 1 thread(s): ")


# --- a first run's compile, said --------------------------------------------------------------


def _compile_something_new():
    """A kernel no cache holds: compiling it starts numba's compile event, as a first run does."""
    import numba

    @numba.njit(cache=False)
    def fresh(x):
        return x + 1

    fresh(1)


def test_simulate_says_when_a_policys_kernels_compile(monkeypatch, capsys):
    """One line per policy whose kernels compile (the first run: a minute or more each, silent
    before), none for a policy that compiles nothing, none with --quiet."""
    import memtier.simulation.simulator as simulator

    real = simulator.simulate

    def first_run(trace, policy, *args, **kwargs):
        if policy == "lru":
            _compile_something_new()
        return real(trace, policy, *args, **kwargs)

    monkeypatch.setattr(simulator, "simulate", first_run)
    command = ["simulate", "--pages", "200", "--accesses", "2000", "--fast-capacity", "20", "--policy", "static,lru"]
    assert main(command) == 0
    err = capsys.readouterr().err
    assert err.count("memtier simulate: compiling") == 1 and "compiling lru's kernels (first run only" in err
    assert main(command + ["--quiet"]) == 0
    assert "compiling" not in capsys.readouterr().err


def test_fit_says_when_the_cost_model_compiles(monkeypatch, capsys):
    import memtier.model.fitting as fitting

    real = fitting.fit
    monkeypatch.setattr(fitting, "fit", lambda *args, **kwargs: _compile_something_new() or real(*args, **kwargs))
    assert main(["fit", str(data_path("zi_yan_2019_rfc.csv")), "--bootstrap", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("memtier fit: compiling the cost model (first run only")
    assert captured.err.count("\n") == 1 and "memtier fit: 52 measurements fitted" in captured.out


def test_predict_says_when_the_cost_model_compiles(tmp_path, monkeypatch, capsys):
    import memtier.model.fitting as fitting

    saved = tmp_path / "rfc.json"
    fitting.fit(rfc_2019(), bootstrap=0).save(saved)
    real = fitting.Fit.predict
    monkeypatch.setattr(fitting.Fit, "predict", lambda self, *args: _compile_something_new() or real(self, *args))
    assert main(["predict", str(saved)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ("memtier predict: compiling the cost model (first run only: seconds, more on a busy "
                            "machine)...\n")
    assert " GB/s " in captured.out


def _lackey_parser_compiles(monkeypatch):
    """The lackey parser's kernels load as on a first run: compiling something on the way."""
    from memtier.traces import _lackey_parser as parser

    real = parser._load_kernels
    monkeypatch.setattr(parser, "_load_kernels",
                        lambda readonly_input: _compile_something_new() or real(readonly_input))


def test_trace_convert_says_when_the_parser_compiles(tmp_path, monkeypatch, capsys):
    """One line (4 s of compiling before the first byte is parsed, silent before); none with --quiet."""
    log = tmp_path / "prog.lackey"
    log.write_bytes(b" L 1000,8\n S 9000,4\n")
    command = ["trace", "convert", str(log), "--out", str(tmp_path / "prog.npy"), "--force"]
    _lackey_parser_compiles(monkeypatch)
    assert main(command) == 0
    captured = capsys.readouterr()
    assert captured.err == ("memtier trace convert: compiling the lackey parser (first run only: seconds, more on "
                            "a busy machine)...\n") and captured.out.startswith("wrote ")
    assert main(command + ["--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed; CI installs it")
def test_trace_record_says_when_the_parser_compiles(tmp_path, monkeypatch, capsys):
    _lackey_parser_compiles(monkeypatch)
    assert main(["trace", "record", "--out", str(tmp_path / "true.npy"), "--", "true"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "compiling" in line]
    assert said == ["memtier trace record: compiling the lackey parser (first run only: seconds, more on a busy "
                    "machine)..."]


def test_sweep_says_once_when_the_simulators_kernels_compile(tmp_path, monkeypatch, capsys):
    """One line for the whole sweep, however many of its simulations compile (here every one:
    its check of the arguments and each cell, with --workers 1); none with --quiet."""
    import memtier.model.fitting as fitting
    import memtier.simulation.simulator as simulator

    fit = tmp_path / "rfc.json"
    fitting.fit(rfc_2019(), bootstrap=0).save(fit)
    trace = tmp_path / "t.npy"
    np.save(trace, np.arange(2000, dtype=np.int32) % 200)
    real = simulator.simulate
    monkeypatch.setattr(simulator, "simulate",
                        lambda *args, **kwargs: _compile_something_new() or real(*args, **kwargs))
    command = ["sweep", "--trace", str(trace), "--policy", "static,lru", "--fast-capacity", "10%,50",
               "--fit", str(fit), "--workers", "1"]
    assert main(command) == 0
    err = capsys.readouterr().err
    assert err.count("compiling") == 1 and err.startswith(
        "memtier sweep: compiling the simulator's kernels (first run only: a minute or more per policy)...\n")
    assert main(command + ["--quiet"]) == 0
    assert "compiling" not in capsys.readouterr().err


# --- rows whose spread is as large as their value ---------------------------------------------


def test_fit_warns_once_about_rows_whose_spread_is_as_large_as_their_value(tmp_path, capsys):
    """One warning line naming the rows and what to do; the fit is the one without the
    warning's rows changed in any way (none dropped or reweighted)."""
    import pandas as pd

    table = pd.read_csv(data_path("zi_yan_2019_rfc.csv"), comment="#")
    table["gbps_sd"] = 0.01 * table["gbps"]
    table.to_csv(tmp_path / "quiet.csv", index=False)
    table.loc[[0, 5], "gbps_sd"] = 0.6 * table.loc[[0, 5], "gbps"]
    table.loc[[1], "gbps_sd"] = 0.4 * table.loc[[1], "gbps"]  # below half: not named
    table.to_csv(tmp_path / "noisy.csv", index=False)
    assert main(["fit", str(tmp_path / "quiet.csv"), "--bootstrap", "0"]) == 0
    quiet = capsys.readouterr()
    assert main(["fit", str(tmp_path / "noisy.csv"), "--bootstrap", "0"]) == 0
    noisy_run = capsys.readouterr()
    assert "warning" not in quiet.err
    warning, = noisy_run.err.splitlines()
    assert warning.startswith(f"memtier: warning: {tmp_path / 'noisy.csv'}: 2 of 52 rows have a standard deviation")
    assert warning.count(" GB/s, sd ") == 2 and "without --quick" in warning and "quieter machine" in warning
    assert noisy_run.out.replace("noisy.csv", "quiet.csv") == quiet.out


def test_wide_spreads_are_above_half_the_value():
    import pandas as pd

    from memtier.measurement.schema import wide_spreads

    table = pd.DataFrame({"gbps": [2.0, 2.0, 2.0, float("nan"), 2.0], "gbps_sd": [1.01, 1.0, float("nan"), 5.0, 0.1]})
    assert wide_spreads(table).tolist() == [True, False, False, False, False]
    assert not wide_spreads(pd.DataFrame({"gbps": [1.0]})).any()


# --- --fast-capacity against the pages there are ----------------------------------------------


def test_a_fast_capacity_above_the_pages_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    """A fast node larger than every page makes every policy alike: refused, before the
    workload is generated; as many pages as there are (everything fits) stays a legitimate
    control; a share above 100% was already refused."""
    import memtier.cli as cli

    monkeypatch.setattr(cli, "_generated_trace", lambda args: (_ for _ in ()).throw(AssertionError("generated")))
    base = ["simulate", "--pages", "1000", "--accesses", "5000", "--policy", "static", "--quiet"]
    assert main(base + ["--fast-capacity", "1001"]) == 2
    err = capsys.readouterr().err
    assert err == ("memtier: error: --fast-capacity 1001: more pages than the 1000 of --pages 1000, so every page "
                   "would fit on the fast node and every policy would do the same; give at most 1000 pages, or a "
                   "share such as 10%\n")
    assert main(base + ["--fast-capacity", "150%"]) == 2
    assert "--fast-capacity 150%: a share of the pages must be above 0% and at most 100%" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(base + ["--fast-capacity", "1000"]) == 0 and main(base + ["--fast-capacity", "100%"]) == 0
    assert capsys.readouterr().out.count("fast capacity 1000 pages") == 2
    trace = tmp_path / "t.npy"
    np.save(trace, np.arange(300, dtype=np.int32))
    assert main(["simulate", "--trace", str(trace), "--fast-capacity", "301", "--quiet"]) == 2
    assert "--fast-capacity 301: more pages than the trace's 300," in capsys.readouterr().err
    assert main(["simulate", "--trace", str(trace), "--pages", "400", "--fast-capacity", "301", "--quiet",
                 "--policy", "static"]) == 0


def test_sweep_refuses_a_fast_capacity_above_a_traces_pages_in_one_line(tmp_path, monkeypatch, capsys):
    """As simulate, each value against each trace, before the sweep starts (its cluster, its fit,
    its cells); a share is at most 100% and at least one page of every trace; --param n_pages
    gives the pages a trace's cells hold."""
    import memtier.simulation.sweeps as sweeps

    def reached(*args, **kwargs):
        raise KeyboardInterrupt  # the sweep was started: main returns 130

    monkeypatch.setattr(sweeps, "sweep", reached)
    small, large = tmp_path / "small.npy", tmp_path / "large.npy"
    np.save(small, np.arange(300, dtype=np.int32))
    np.save(large, np.arange(1000, dtype=np.int32))
    base = ["sweep", "--trace", str(large), "--trace", str(small), "--policy", "static", "--quiet"]
    assert main(base + ["--fast-capacity", "10%,301"]) == 2
    assert capsys.readouterr().err == (
        f"memtier: error: --fast-capacity 301: more pages than the 300 of --trace {small}, so every page would fit "
        "on the fast node and every policy would do the same; give at most 300 pages, or a share such as 10%\n")
    assert main(base + ["--fast-capacity", "150%"]) == 2
    assert capsys.readouterr().err == ("memtier: error: --fast-capacity 150%: a share of the pages must be above 0% "
                                       "and at most 100%\n")
    assert main(base + ["--fast-capacity", "0.1%"]) == 2  # a page of large, 0.3 of small
    assert "--fast-capacity 0.1% of the trace's 300 pages is less than one page" in capsys.readouterr().err
    assert main(base + ["--fast-capacity", "300,100%"]) == 130
    assert main(base + ["--fast-capacity", "1000", "--param", "n_pages=1000"]) == 130


def test_sigterm_is_an_interrupt_that_removes_what_is_being_written(tmp_path):
    """While a command runs, SIGTERM (a batch scheduler's time limit) raises cli.Terminated, a
    KeyboardInterrupt: a file being written atomically is removed, nothing is left at its
    name, and the handler is put back afterwards."""
    import signal

    from memtier.outputs import atomic_write

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(cli.Terminated):
        with cli._terminate_as_interrupt():
            with atomic_write(tmp_path / "out.csv") as handle:
                handle.write("half a table\n")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the signal arrives before this ends
    assert not list(tmp_path.iterdir())
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_caught_inside_a_callback_from_c_is_raised_again_outside_it():
    """An interrupt raised while C code has called back into Python (numba's compiler does, while
    it compiles) cannot leave the callback: Python prints it and runs on.  While a command runs,
    the signal is sent again and raised outside, silently; the hook is put back afterwards."""
    import ctypes
    import signal

    def inside():
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.time() + 0.5
        while time.time() < deadline:  # the handler runs here, in the callback
            pass

    callback = ctypes.CFUNCTYPE(None)(inside)
    hook = sys.unraisablehook
    started = time.time()
    with pytest.raises(cli.Terminated):
        with cli._terminate_as_interrupt():
            callback()
            while time.time() - started < 10:
                time.sleep(0.01)
    assert time.time() - started < 5
    assert sys.unraisablehook is hook


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind records the program")
def test_a_terminated_command_exits_143_and_leaves_no_partial_files(tmp_path):
    """`memtier trace record` of a program that runs on, sent SIGTERM once its outputs are being
    written: exit status 143, one line, no file left in the output folder, valgrind ended."""
    import signal

    process = subprocess.Popen([sys.executable, "-m", "memtier", "trace", "record", "--quiet", "--out",
                                str(tmp_path / "t.npy"), "--", "sleep", "120"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list(tmp_path.glob(".t.npy.*")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert list(tmp_path.glob(".t.npy.*")), "the recording never started writing"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "terminated (SIGTERM)" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
