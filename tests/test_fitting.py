"""Fitting: accuracy on the RFC, prediction of held-out rows, parameter recovery, persistence."""
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from memtier import ModelParams, fit, load_fit, load_measurements
from memtier.measurement.datasets import rfc_2019
from memtier.model.fitting import cross_validate, identifiable
from memtier.model.cost import table_gbps


@pytest.fixture(scope="module")
def rfc_fit():
    return fit(rfc_2019(), bootstrap=30)


def test_report_marks_a_value_outside_its_interval(rfc_fit):
    """A percentile interval that misses the fitted value (a fit of one's own measurements showed
    copy_page_us 0.00096 beside '0.001392 - 0.1135') is marked, with a line saying what it means."""
    import copy

    name = "copy_gbps_per_thread"
    marked = copy.copy(rfc_fit)
    column = ModelParams.names().index(name)
    marked.samples = np.array(rfc_fit.samples, dtype=np.float64, copy=True)
    marked.samples[:, column] = getattr(rfc_fit.params, name) * np.linspace(2, 3, len(marked.samples))
    line = next(line for line in marked.report().splitlines() if line.startswith(name))
    assert line.endswith("  *")
    assert "* the fitted value lies outside its bootstrap interval" in marked.report()


def test_rfc_accuracy(rfc_fit):
    """Issue 8's bound: all 52 figures, both scopes, one fit, no worse than before the
    robust fit and the new DMA terms (median 2.4%, largest 9.0%): at most 2.5% and 9.5%."""
    errors = np.abs(rfc_fit.residuals()["relative_error"])
    assert len(errors) == 52 and not rfc_fit.excluded
    assert np.median(errors) <= 0.025
    assert errors.max() <= 0.095


def test_rfc_held_out_configurations():
    """Each of the 26 configurations predicted by a fit to the other 25.  Rows whose only
    constraint left with them (the single DMA figure) are reported apart, not counted."""
    cv = cross_validate(rfc_2019())
    genuine = cv[cv["lost"] == ""]
    assert len(genuine) >= 46
    errors = np.abs(genuine["relative_error"])
    assert np.median(errors) <= 0.08
    assert errors.max() <= 0.25
    assert "dma_ceiling_gbps" in set(cv["lost"])


def test_report_and_intervals(rfc_fit):
    report = rfc_fit.report()
    assert "median |error|" in report and "copy_gbps_per_thread" in report and "open" in report
    # One DMA figure: the data cannot tell the structures apart, and the report says so.
    assert "DMA structure: split (cannot tell: one channel count)" in report
    table = rfc_fit.intervals()
    fitted = table[table["status"] == "fitted"]
    # Percentile intervals of a skewed bootstrap need not hold the best fit, but for nearly all
    # parameters they do; a fit whose replicates wander off would fail this.
    inside = (fitted["low"] <= fitted["value"] * 1.0001) & (fitted["value"] <= fitted["high"] * 1.0001)
    assert inside.mean() >= 0.85
    assert (fitted["high"] > fitted["low"]).all()
    # The RFC has one DMA figure: only one DMA parameter can be fitted.
    dma = table[table["parameter"].str.startswith("dma_")]
    assert (dma["status"] == "fitted").sum() == 1
    low, high = rfc_fit.predict_interval(rfc_2019())
    middle = rfc_fit.predict(rfc_2019())
    assert np.all(low <= middle * 1.001) and np.all(middle <= high * 1.001)


def _design():
    rows = []
    for page, n, workers, batched, exchange, scope in itertools.product(
            ["4K", "64K", "2M"], [1, 16, 512], [1, 2, 4, 8, 16], [False, True], [False, True],
            ["copy", "migrate", "syscall"]):
        if exchange and not batched and workers > 1:
            continue
        rows.append(dict(page_size=page, n_pages=n, copy="cpu", workers=workers, batched=batched,
                         exchange=exchange, scope=scope))
    for channels, n, scope in itertools.product([1, 2, 4, 8, 16], [1, 16], ["copy", "migrate"]):
        rows.append(dict(page_size="2M", n_pages=n, copy="dma", workers=channels, batched=n > 1,
                         exchange=False, scope=scope))
    return pd.DataFrame(rows)


TRUTH = ModelParams().replace(copy_gbps_per_thread=4.1, link_gbps=30.0, dispatch_us=20.0, mt_page_us=0.3,
                              dma_channel_gbps=2.5, dma_ceiling_gbps=16.0, dma_setup_us=8.0, page_us=1.8,
                              subpage_ns=35.0, pte_us=0.25, syscall_call_us=40.0, batch_saving=0.4,
                              dma_ceiling_softness=0.4)


def _synthetic(noise, seed=0):
    design = _design()
    rng = np.random.default_rng(seed)
    design["gbps"] = table_gbps(TRUTH, _configs(design)) * (1 + noise * rng.standard_normal(len(design)))
    return design


def _configs(design):
    from memtier import load_measurements

    return load_measurements(design.drop(columns=[c for c in ("gbps",) if c in design]), throughput=False)


def test_parameter_recovery_from_synthetic_data():
    """Data made by the model with other parameters and 1% noise: the fit finds them again."""
    names = ["copy_gbps_per_thread", "link_gbps", "dispatch_us", "mt_page_us", "dma_channel_gbps",
             "dma_ceiling_gbps", "page_us", "subpage_ns", "pte_us", "syscall_call_us", "batch_saving"]
    free = identifiable(_synthetic(0.0), ModelParams())
    assert set(names) <= set(free)
    # The DMA ceiling's softness is stated 0 (a hard minimum), where it moves no row: the rank
    # check cannot see it (memtier.fit's probe does: test_predicts_unmeasured_...); named here.
    assert "dma_ceiling_softness" not in free
    free, names = free + ["dma_ceiling_softness"], names + ["dma_ceiling_softness"]
    # The layout is the truth's (split, one channel per engine); choosing it is tested below.
    result = fit(_synthetic(0.01), free=free, bootstrap=0, structure="split", channels_per_engine=1)
    for name in names:
        assert getattr(result.params, name) == pytest.approx(getattr(TRUTH, name), rel=0.1), name
    assert result.median_error < 0.012


def test_predicts_unmeasured_thread_and_channel_counts():
    """Fit on 1-4 threads and 1-4 DMA channels of another machine; predict 8 and 16."""
    data = _synthetic(0.0)
    seen = data[data["workers"] <= 4]
    unseen = data[data["workers"] > 4]
    result = fit(seen, base=ModelParams(), bootstrap=0)
    # The truth's DMA ceiling is soft (it bends 2-4 channels already, which is what lets 1-4
    # channels tell it); stated hard, the softness is found by the probe and must pay.
    assert result.structure["probed"]["dma_ceiling_softness"].startswith("fitted")
    errors = np.abs(result.predict(_configs(unseen)) / unseen["gbps"].to_numpy() - 1)
    assert np.median(errors) < 0.02
    assert errors.max() < 0.15


def test_partial_fit_keeps_fixed_parameters(rfc_fit):
    data = _synthetic(0.0)
    syscall_only = data[(data["scope"] == "syscall") & (data["page_size"] == "2M")]
    result = fit(syscall_only, free=["copy_gbps_per_thread", "syscall_call_us"], base=rfc_fit, bootstrap=0)
    assert result.free == ["copy_gbps_per_thread", "syscall_call_us"]
    assert result.params.link_gbps == rfc_fit.params.link_gbps
    assert result.params.copy_gbps_per_thread != rfc_fit.params.copy_gbps_per_thread


@pytest.mark.parametrize("free, words", [(["warp_speed"], "unknown parameter"),
                                         (["link_gbps", "link_gbps"], "twice")])
def test_bad_free_refused(free, words):
    with pytest.raises(ValueError, match=words):
        fit(rfc_2019(), free=free, bootstrap=0)


def test_save_load_round_trip(rfc_fit, tmp_path):
    path = rfc_fit.save(tmp_path / "fit.json")
    again = load_fit(path)
    assert again.params == rfc_fit.params
    assert again.free == rfc_fit.free
    np.testing.assert_array_equal(again.samples, rfc_fit.samples)
    np.testing.assert_array_equal(again.predict(rfc_2019()), rfc_fit.predict(rfc_2019()))
    assert again.report() == rfc_fit.report()
    with pytest.raises(FileExistsError):
        rfc_fit.save(path)
    (tmp_path / "junk.json").write_text("{\"hello\": 1}")
    with pytest.raises(ValueError, match="not a memtier fit"):
        load_fit(tmp_path / "junk.json")
    # A fit written while the overlap was stated at 0.8 (now 0) carries its own value, in its
    # parameters and every replicate (written since format 2), and loads with it: no new format.
    data = json.loads(path.read_text())
    overlap = ModelParams.names().index("dma_overlap")
    assert rfc_fit.params.dma_overlap == 0.0 == ModelParams().dma_overlap
    data["params"]["dma_overlap"] = 0.8
    for row in data["samples"]:
        row[overlap] = 0.8
    (tmp_path / "stated.json").write_text(json.dumps(data))
    stated = load_fit(tmp_path / "stated.json")
    assert stated.params == rfc_fit.params.replace(dma_overlap=0.8) and (stated.samples[:, overlap] == 0.8).all()
    # A fit written before the DMA ceiling had a softness of its own (format 6) loads with the
    # CPU link's sharpness on it (the model it was fitted with), in its samples too.
    data = json.loads(path.read_text())
    data["memtier_fit"] = 6
    names = ModelParams.names()
    soft, sharp = names.index("dma_ceiling_softness"), names.index("ceiling_sharpness")
    del data["params"]["dma_ceiling_softness"]
    data["samples"] = np.delete(np.array(data["samples"]), soft, axis=1).tolist()
    (tmp_path / "v6.json").write_text(json.dumps(data))
    v6 = load_fit(tmp_path / "v6.json")
    as_made = rfc_fit.params.replace(dma_ceiling_softness=1.0 / rfc_fit.params.ceiling_sharpness)
    assert v6.params == as_made and rfc_fit.params.dma_ceiling_softness == 0.0
    np.testing.assert_array_equal(v6.samples[:, soft], 1.0 / rfc_fit.samples[:, sharp])
    np.testing.assert_array_equal(np.delete(v6.samples, soft, axis=1), np.delete(rfc_fit.samples, soft, axis=1))
    made = rfc_fit.samples.copy()
    made[:, soft] = 1.0 / made[:, sharp]
    # A fit written before a queue's own bandwidth (format 5) loads with its stated value (none:
    # the model it was fitted with), in its samples too.
    data["memtier_fit"] = 5
    queue = ModelParams.names().index("dma_queue_gbps")
    del data["params"]["dma_queue_gbps"]
    data["samples"] = np.delete(np.array(data["samples"]), queue, axis=1).tolist()
    (tmp_path / "v5.json").write_text(json.dumps(data))
    v5 = load_fit(tmp_path / "v5.json")
    assert v5.params == as_made and v5.params.dma_queue_gbps == ModelParams().dma_queue_gbps
    np.testing.assert_array_equal(v5.samples, made)
    # A fit written before the shared DMA path (format 4) loads with its stated values, in its
    # samples too (the RFC's fit leaves them open: stated in every replicate).
    data["memtier_fit"] = 4
    shared = [ModelParams.names().index(n) for n in ("dma_shared_descriptor_us", "dma_shared_entry_us")]
    for name in ("dma_shared_descriptor_us", "dma_shared_entry_us"):
        del data["params"][name]
    del data["sources"]
    data["samples"] = np.delete(np.array(data["samples"]), shared, axis=1).tolist()
    (tmp_path / "v4.json").write_text(json.dumps(data))
    v4 = load_fit(tmp_path / "v4.json")
    assert v4.params == as_made and not v4.sources
    np.testing.assert_array_equal(v4.samples, made)
    # A fit written before the batch limit (format 3) loads with mainline's, in its samples too.
    data["memtier_fit"] = 3
    del data["params"]["migrate_batch_pages"]
    data["samples"] = np.array(data["samples"])[:, :-1].tolist()
    (tmp_path / "v3.json").write_text(json.dumps(data))
    v3 = load_fit(tmp_path / "v3.json")
    assert v3.params == as_made and v3.params.migrate_batch_pages == 512
    np.testing.assert_array_equal(v3.samples, made)
    # A fit written before the per-descriptor channel time (format 2) loads with its stated value.
    at = ModelParams.names().index("dma_channel_descriptor_us")
    data["memtier_fit"] = 2
    del data["params"]["dma_channel_descriptor_us"]
    data["samples"] = np.delete(np.array(data["samples"]), at, axis=1).tolist()
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = load_fit(tmp_path / "old.json")
    assert old.params == as_made.replace(dma_channel_descriptor_us=ModelParams().dma_channel_descriptor_us)
    assert old.samples.shape == rfc_fit.samples.shape
    assert (old.samples[:, at] == ModelParams().dma_channel_descriptor_us).all()


# --- issue 8: a machine the model was not made on (AMD Zen3, PTDMA) ---------------------------

from memtier.measurement.datasets import ZEN3_2P_LINK_GBPS, amd_zen3_2026, amd_zen3_2026_machine  # noqa: E402
from memtier.model.fitting import contradicted_rows, errors_by_count, neutral_params  # noqa: E402


@pytest.fixture(scope="module")
def amd_fit():
    return fit(amd_zen3_2026(), bootstrap=10)


def _contradicted_v4_row(table):
    return table.index[(table["source"] == "SG-RFCv4-2026-03") & (table["copy"] == "dma")
                       & (table["workers"] == 1) & (table["page_size"] == 1 << 20)].tolist()


def test_amd_contradicted_row_found_and_reported(amd_fit):
    """The v4 posting's 1M-folio, 1-channel DMA figure (7.38 GB/s) against 4.57-4.75 GB/s in the
    later postings: the only row the others contradict; left out, and reported."""
    table = amd_zen3_2026()
    check = contradicted_rows(table)
    assert check.index[check["contradicted"]].tolist() == _contradicted_v4_row(table)
    assert amd_fit.excluded == _contradicted_v4_row(table)
    report = amd_fit.report()
    assert "1 contradicted, left out" in report and "the others' median 4.6" in report


def test_amd_in_sample(amd_fit):
    """Issue 8's in-sample bound on the median: at most 5% over the 67 rows the sources do not
    contradict (reached: 3.3%; 2.7% while the DMA ceiling was as soft as the CPU link's).  The layout found: whole folios to the channels, two channels
    per engine, and batches of 1 GiB (the series' testing NR_MAX_BATCHED_MIGRATION: the whole
    call is one batch), each clearly; a PTDMA descriptor costs its channel microseconds (one
    command at a time, started from the previous one's completion), not the 0.5 us stated.
    Three postings measured the same configurations, so each gets a factor on its DMA rows'
    serial work (the source effect), and the shared path bounds the copy of many channels."""
    assert amd_fit.median_error <= 0.05
    # The largest: test_amd_in_sample_largest_target.
    # The shared path's terms are stated at 0 (absent): the per-descriptor one is found by the
    # probe (no local sensitivity at 0: the max() branch is inactive) and pays for itself; the
    # per-entry one does not (at most 2 lower in AIC), and stays open at 0.
    assert "dma_shared_descriptor_us" in amd_fit.free and "dma_shared_entry_us" in amd_fit.open
    assert amd_fit.params.dma_shared_entry_us == 0.0 and amd_fit.params.dma_shared_descriptor_us > 2.0
    assert amd_fit.structure["probed"]["dma_shared_descriptor_us"].startswith("fitted")
    probe_line = next(line for line in amd_fit.report().splitlines() if line.startswith("Probed"))
    fitted, open_ = probe_line.split("; open")
    assert "dma_shared_descriptor_us" in fitted and "dma_shared_entry_us" in open_
    # The overlap departs from dcbm's code (nothing overlaps there) and must pay against 0: it
    # does (AIC about 21 lower).  A lone channel's own bandwidth (PTDMA: one command in flight)
    # is stated absent, probed, and left open: the rows explain the THPs' gain from one
    # channel to two as well without it.
    assert "dma_overlap" in fitted and amd_fit.structure["probed"]["dma_overlap"].startswith("fitted")
    assert "dma_queue_gbps" in open_ and amd_fit.params.dma_queue_gbps == ModelParams().dma_queue_gbps
    # The DMA ceiling is met at a hard minimum (stated: resources in series); a soft one is a
    # departure that must pay, and does not (AIC 2.9 lower with it, not 4).
    assert "dma_ceiling_softness" in open_ and amd_fit.params.dma_ceiling_softness == 0.0
    assert amd_fit.structure["probed"]["dma_ceiling_softness"].startswith("open: the stated value kept")
    sources = amd_fit.sources
    assert sources["reference"] == "SG-dcbm-sg-2026-04-23" and sources["factors"][sources["reference"]] == 1.0
    # The v4 posting (7.0-rc2) is faster on small folios than the later two: a factor below one.
    assert 0.6 <= sources["factors"]["SG-RFCv4-2026-03"] <= 0.95
    assert 0.85 <= sources["factors"]["SG-v5reply-2026-05-08"] <= 1.15
    assert "Source effect (on: sources measured the same DMA configurations)" in amd_fit.report()
    assert amd_fit.params.dma_structure == "folio" and amd_fit.params.dma_channels_per_engine == 2
    assert amd_fit.params.migrate_batch_pages == 262144
    assert all(amd_fit.structure[k].startswith("clear") for k in ("how", "engine_how", "batch_how"))
    assert "batches of 262144 base pages (clear" in amd_fit.structure_line()
    assert {"dma_channel_gbps", "dma_entry_us", "pte_us", "dma_overlap",
            "dma_channel_descriptor_us"} <= set(amd_fit.free)
    assert 2.0 <= amd_fit.params.dma_channel_descriptor_us <= 20.0
    # Every parameter is fitted or open (nothing was named), and the report says which.
    statuses = set(amd_fit.intervals()["status"])
    assert statuses == {"fitted", "open"}
    assert "open" in amd_fit.report() and "DMA structure: folio (clear" in amd_fit.report()


def test_amd_in_sample_largest_target(amd_fit):
    """Issue 8's bound on the largest in-sample error: at most 15% (reached: 14.8%, the v4
    posting's 4 KiB folios at one channel, 2.63 +- 0.26 GB/s, modelled 2.24).  It was 16.7%
    while one sharpness served the CPU link and the DMA ceiling: the fit bent the engines'
    ceiling softly (sharpness 3.2) to suit the 1-4 channel rows at the cost of the serial work
    per 4 KiB; the DMA ceiling now has its own softness, stated 0 (the slowest of resources in
    series sets the pace) and probed as a departure, which the rows do not pay for."""
    assert amd_fit.max_error <= 0.15


@pytest.fixture(scope="module")
def amd_held_out():
    # The machine's published socket link states the ceiling that 1-4 channels leave open; a
    # small bootstrap gives each prediction its interval (the fit's predictions do not depend
    # on it: the replicates start at the best fit, after it).
    return cross_validate(amd_zen3_2026(), hold_out_counts=[8, 16], copy="dma", base=amd_zen3_2026_machine(),
                          bootstrap=50)


def test_hold_out_counts_mode(amd_held_out):
    """Fit without the 8- and 16-channel DMA rows, predict them; one summary row per count."""
    assert set(amd_held_out["held_out_count"]) == {8, 16}
    assert (amd_held_out["copy"] == "dma").all() and len(amd_held_out) == 16
    summary = errors_by_count(amd_held_out)
    assert summary.index.tolist() == [8, 16] and (summary["rows"] == 8).all()
    assert (summary["largest"] >= summary["median"]).all()
    assert np.isfinite(amd_held_out["predicted_gbps"]).all()
    # 1-4 channels are enough to rule out the split structure (4 KiB folios gain with channels,
    # and 64 KiB folios are dearer than 1 MiB ones per byte): folio, clearly.
    trained = amd_held_out.attrs["fit"]
    assert trained.params.dma_structure == "folio" and trained.structure["how"].startswith("clear")
    # So is the batch limit (whole-call batches), and, with the source effect reading the v4
    # posting's faster small folios as its build's, two channels per engine (without it, one
    # and two fitted 1-4 channels equally well).
    assert trained.params.migrate_batch_pages == 262144 and trained.structure["batch_how"].startswith("clear")
    # Two channels per engine: "likely" (AIC 9.0), the layouts being compared before the probe
    # finds the shared path (stated at 0, absent); "clear" (59) when it was stated at 1 us.
    assert trained.params.dma_channels_per_engine == 2
    assert trained.structure["engine_how"].startswith(("clear", "likely"))
    assert trained.sources["reference"] == "SG-RFCv4-2026-03" and len(trained.sources["factors"]) == 3
    seen = trained.measurements
    assert set(seen["workers"][seen["copy"] == "dma"]) == {1, 2, 4}
    # 1-4 channels do not reach the engines' ceiling: open, at the machine's stated socket link.
    assert trained.status("dma_ceiling_gbps") == "open"
    assert trained.params.dma_ceiling_gbps == ZEN3_2P_LINK_GBPS == 108.0


def test_held_out_median_with_the_stated_link(amd_held_out):
    """With the ceiling stated at the machine's socket link (108 GB/s each way) instead of the
    fit's own rule for an open ceiling (twice the fastest row seen: 54 GB/s), the 8- and
    16-channel rows are predicted at median 8.6% (9.0% with the rule, largest 39% against
    18.9%; 8.6% and 8.3% with the link stated at 96 or 144 GB/s); the issue's 6% is not
    reached (below)."""
    errors = amd_held_out["relative_error"].abs()
    assert errors.median() <= 0.09
    thp = amd_held_out[amd_held_out["page_size"] == 2 << 20]
    assert (thp.loc[thp["workers"] == 8, "relative_error"].abs() <= 0.10).all()  # 12-15% slow with the rule


def _squared_errors(result):
    rows = result.measurements.drop(index=result.excluded)
    return float(((result.predict(rows) / rows["gbps"] - 1.0) ** 2).sum())


def test_held_out_departures_follow_the_rule(amd_held_out):
    """The THPs' gain from one channel to two (165 to 146 us a THP, one root complex) has two
    readings: serial work hidden behind the second channel's copy (``dma_overlap``, a
    departure from dcbm's code, stated at 0) or a lone PTDMA, one command in flight, moving
    less than its root complex carries for two (``dma_queue_gbps``, stated absent).  Over the
    1-4 channel rows both pay (AIC 10 and 11 lower): the overlap is found once the shared path
    is in the fit (before it, 0.8 lower; a departure left out is asked again when another term
    joins the set).  That predicts 8 and 16 channels at median 8.6%, largest 18.9% (THPs at 16
    channels -19% and -13%).  Stated at 0.8, the overlap's estimate before this version, it
    does not pay (0.4 lower) yet stays present, the queue then does not pay (2.0 higher), and
    the THPs at 16 channels come out 25-30% slow (7.8%, 30.3%)."""
    hidden = cross_validate(amd_zen3_2026(), hold_out_counts=[8, 16], copy="dma",
                            base=amd_zen3_2026_machine().replace(dma_overlap=0.8))
    both, stated = amd_held_out.attrs["fit"], hidden.attrs["fit"]
    assert both.status("dma_overlap") == "fitted" and 0.0 < both.params.dma_overlap < 1.0
    assert both.structure["probed"]["dma_overlap"].startswith("fitted")
    assert both.status("dma_queue_gbps") == "fitted"
    assert both.params.dma_queue_gbps < both.params.dma_channel_gbps  # below the engine's
    assert stated.params.dma_overlap == 0.8 and stated.status("dma_overlap") == "open"
    assert stated.structure["probed"]["dma_overlap"].startswith("open: the stated value kept")
    assert stated.params.dma_queue_gbps == ModelParams().dma_queue_gbps
    # With both terms the rows held in are described better than with the stated 0.8 alone.
    assert _squared_errors(both) < _squared_errors(stated)
    thp16 = amd_held_out[(amd_held_out["page_size"] == 2 << 20) & (amd_held_out["workers"] == 16)]["relative_error"]
    assert (thp16.abs() <= 0.2).all()
    assert (hidden.loc[thp16.index, "relative_error"] <= -0.2).all()
    assert amd_held_out["relative_error"].abs().max() <= 0.2 < hidden["relative_error"].abs().max()


def test_amd_held_out_largest_target(amd_held_out):
    """Issue 8's bound on the largest held-out error, 20%: met (18.9%, a THP row at 16 channels;
    the 64 KiB folios at 16, -18%), since the overlap is stated at 0 and fitted
    where it pays; 30.3% with it stated at 0.8."""
    assert amd_held_out["relative_error"].abs().max() <= 0.20


@pytest.mark.xfail(strict=True, reason="issue 8's target for the median is not met: 8 and 16 channels are "
                                       "predicted at median 8.6%, largest 18.9% (the largest within its 20%; "
                                       "7.8% and 30.3% with the overlap stated at 0.8, an estimate, and kept "
                                       "there unpaid; 14.3% and 25.9% stated at 0 but tested once, before the "
                                       "shared path was found; 23.7% and 48.4% before the source effect and "
                                       "the shared path): 64 KiB folios -10 to -18%, 1 MiB -5 to +10%, 4 KiB "
                                       "+1 to +8%, 2 MiB THPs +3 and +6% at 8 channels, -19 and -13% at 16 (the "
                                       "overlap, 0.66, and a lone channel's bandwidth, 16.3 GB/s, both fitted "
                                       "over 1-4 channels, read the THPs' gain from one channel to two). Not "
                                       "reachable without tuning: the 1-4 channel rows leave open what decides "
                                       "the THPs (the kernel's work per 4 KiB, 25-95 ns within 3 in AIC: median "
                                       "7.0-12.6%; one copy thread over Zen 3's published 11.0-13.8 GB/s: "
                                       "6.9-16.8%), and the 64 KiB folios lie above their bootstrap intervals "
                                       "(docs/cost-model.md)")
def test_amd_held_out_target(amd_held_out):
    errors = amd_held_out["relative_error"].abs()
    assert errors.median() <= 0.06 and errors.max() <= 0.20


def test_held_out_intervals_tell_what_is_open_from_what_is_missed(amd_held_out):
    """Why the median target is not met, in two parts (``docs/cost-model.md``).  The 2 MiB THPs
    at 16 channels rest on what 1-4 channels leave open: their 95% interval spans more than a
    factor 1.5 (about 40 to 96 GB/s) and holds both measurements.  The 64 KiB folios are missed
    by the structure: at 4 channels the model's per-descriptor shared path binds them, so it
    caps 8 and 16 channels at the 4-channel rate, while the rows still gain 20% from 4 to 8;
    all four lie above intervals a few percent wide."""
    held = amd_held_out
    assert {"predicted_low", "predicted_high", "inside"} <= set(held.columns)
    assert (held["predicted_low"] <= held["predicted_gbps"] * (1 + 1e-9)).all()
    assert (held["predicted_gbps"] <= held["predicted_high"] * (1 + 1e-9)).all()
    thp16 = held[(held["page_size"] == 2 << 20) & (held["workers"] == 16)]
    assert (thp16["predicted_high"] / thp16["predicted_low"] > 1.5).all() and thp16["inside"].all()
    k64 = held[held["page_size"] == 64 << 10]
    assert not k64["inside"].any() and (k64["gbps"] > k64["predicted_high"]).all()
    assert (k64["predicted_high"] / k64["predicted_low"] < 1.3).all()
    summary = errors_by_count(held)
    assert summary["inside"].sum() == held["inside"].sum() < len(held)


def test_held_out_thps_rest_on_kernel_work_the_rows_leave_open(amd_held_out):
    """The kernel's work per 4 KiB (``subpage_ns``) is, on one-thread CPU rows, paid with every
    4 KiB copied, like the copy's bandwidth, and the 1-4 channel DMA rows do not pin it: fixed
    at 40 or at 95 ns (fitted: 75), the rest refitted, the rows held in fit as well (Akaike's
    criterion within 3 of the fit's), yet the THPs at 16 channels are predicted 8-16% fast at
    40 ns and 28-33% slow at 95.  A prediction within 6% there is a choice those rows do not
    make."""
    fitted = amd_held_out.attrs["fit"]
    rows = fitted.measurements.drop(index=fitted.excluded)
    n = len(rows)
    thp16 = amd_held_out[(amd_held_out["page_size"] == 2 << 20) & (amd_held_out["workers"] == 16)]
    layout = dict(structure=fitted.params.dma_structure, channels_per_engine=fitted.params.dma_channels_per_engine,
                  batch_pages=fitted.params.migrate_batch_pages)
    free = [name for name in fitted.free if name != "subpage_ns"]
    predicted = {}
    for value in (40.0, 95.0):
        refit = fit(fitted.measurements, free=free, base=fitted.params.replace(subpage_ns=value), bootstrap=0,
                    source_effect=True, **layout)
        assert n * np.log(_squared_errors(refit) / _squared_errors(fitted)) < 3.0
        predicted[value] = refit.predict(thp16)
    assert np.all(predicted[40.0] > 1.3 * predicted[95.0])
    assert np.all(predicted[40.0] > thp16["gbps"]) and np.all(predicted[95.0] < 0.8 * thp16["gbps"])


def test_hold_out_bootstrap_is_checked():
    rows = amd_zen3_2026()
    with pytest.raises(ValueError, match="hold-out mode only"):
        cross_validate(rows, bootstrap=5)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="whole number of replicates"):
            cross_validate(rows, hold_out_counts=[16], bootstrap=bad)


def test_source_effect_predicts_saves_and_can_be_refused(amd_fit, tmp_path):
    """A row of a known source is predicted with its factor, any other configuration with the
    reference's; the factors survive save and load; asking for the effect where no two sources
    measured a DMA configuration in common is one clear error."""
    rows = amd_zen3_2026()
    v4 = rows[(rows["source"] == "SG-RFCv4-2026-03") & (rows["copy"] == "dma")].reset_index(drop=True)
    as_reference = v4.assign(source="SG-dcbm-sg-2026-04-23")
    unknown = v4.assign(source="")
    faster = amd_fit.predict(v4)
    assert np.all(faster >= amd_fit.predict(as_reference) * (1 - 1e-12))  # factor < 1: less serial work
    assert (faster > amd_fit.predict(as_reference) * 1.01).any()
    np.testing.assert_array_equal(amd_fit.predict(unknown), amd_fit.predict(as_reference))
    cpu = rows[rows["copy"] == "cpu"].reset_index(drop=True)
    np.testing.assert_array_equal(amd_fit.predict(cpu), amd_fit.predict(cpu.assign(source="")))
    again = load_fit(amd_fit.save(tmp_path / "amd.json"))
    assert again.sources == amd_fit.sources
    np.testing.assert_array_equal(again.predict(rows), amd_fit.predict(rows))
    assert again.report() == amd_fit.report()
    with pytest.raises(ValueError, match="source_effect=True needs DMA rows from two or more sources"):
        fit(rows[rows["source"] != "SG-RFCv4-2026-03"].assign(source="one"), source_effect=True, bootstrap=0)
    with pytest.raises(ValueError, match="source_effect must be None .* True or False, got 'yes'"):
        fit(rows, source_effect="yes", bootstrap=0)


def test_amd_fit_does_not_depend_on_the_start(amd_fit):
    """From the RFC's machine and from a neutral one: the same layout, the same fitted set,
    each value inside the other's bootstrap interval or equal to the other's within 1% (the
    starts are the same points, so the fits agree; a percentile interval of ten replicates
    need not hold its own best fit)."""
    other = fit(amd_zen3_2026(), start=neutral_params(), bootstrap=10)
    assert other.median_error == pytest.approx(amd_fit.median_error, abs=0.005)
    assert (other.params.dma_structure, other.params.dma_channels_per_engine) == (
        amd_fit.params.dma_structure, amd_fit.params.dma_channels_per_engine)
    assert set(other.free) == set(amd_fit.free)
    first, second = amd_fit.intervals().set_index("parameter"), other.intervals().set_index("parameter")
    for name in amd_fit.free:
        one, two = first.loc[name, "value"], second.loc[name, "value"]
        if two == pytest.approx(one, rel=0.01):
            continue
        assert second.loc[name, "low"] * 0.999 <= one <= second.loc[name, "high"] * 1.001, name
        assert first.loc[name, "low"] * 0.999 <= two <= first.loc[name, "high"] * 1.001, name
    assert other.sources["factors"] == pytest.approx(amd_fit.sources["factors"], rel=0.01)


def test_amd_fit_does_not_depend_on_the_shared_paths_stated_values(amd_fit):
    """Stated at 0 (the default: absent), 0.5 / 0.05 us, 1 / 0.1 us (the values before the
    probe, which the fit needed to notice the shared path at all) or 2 / 0.2 us: the same
    parameters fitted, the per-entry term open at whatever was stated, and the same figures.
    The layout is the one the default fit chose (choosing it is tested above), to keep the
    test short."""
    rows = amd_zen3_2026()
    layout = dict(structure=amd_fit.params.dma_structure, channels_per_engine=amd_fit.params.dma_channels_per_engine,
                  batch_pages=amd_fit.params.migrate_batch_pages)
    for descriptor, entry in [(0.5, 0.05), (1.0, 0.1), (2.0, 0.2)]:
        stated = ModelParams().replace(dma_shared_descriptor_us=descriptor, dma_shared_entry_us=entry)
        other = fit(rows, base=stated, bootstrap=0, **layout)
        if entry == 0.2:
            # Not every choice is independent of them: with 0.2 us per entry the DMA ceiling's
            # softness pays exactly the 4 a departure must (3.7 at 0.05 and 0.1 us, 2.9 at 0), and
            # a soft ceiling at 87 GB/s takes up part of the shared path (largest error 17.7%).
            assert set(other.free) ^ set(amd_fit.free) == {"dma_ceiling_softness", "dma_ceiling_gbps"}
            assert other.median_error == pytest.approx(amd_fit.median_error, abs=0.01)
            assert np.max(np.abs(other.predict(rows) / amd_fit.predict(rows) - 1)) <= 0.06
            continue
        assert set(other.free) == set(amd_fit.free), (descriptor, entry)
        assert other.params.dma_shared_entry_us == entry and "dma_shared_entry_us" in other.open
        assert other.structure["probed"]["dma_shared_entry_us"].startswith("open")
        assert other.median_error == pytest.approx(amd_fit.median_error, abs=0.005)
        assert other.max_error == pytest.approx(amd_fit.max_error, abs=0.02)
        ratio = other.predict(rows) / amd_fit.predict(rows)
        assert np.max(np.abs(ratio - 1)) <= MAX_STATED_SPREAD, (descriptor, entry, np.max(np.abs(ratio - 1)))


#: Largest difference between two fits' predictions of an AMD row, from stated values of the
#: open per-entry shared time between 0 and 0.2 us.
MAX_STATED_SPREAD = 0.04  # measured: 1.4% and 3.0% for 0.05 and 0.1 us (0.3%, 1.3% and 2.3% for
# 0.05, 0.1 and 0.2 us while one sharpness served both ceilings)


def _dma_design():
    rows = []
    for page, channels in itertools.product(["4K", "64K", "1M", "2M"], [1, 2, 4, 8, 16]):
        rows.append(dict(page_size=page, n_pages=(1 << 30) // memtier_page(page), copy="dma",
                         workers=channels, batched=True, exchange=False, scope="syscall"))
    for page in ["4K", "64K", "1M", "2M"]:
        rows.append(dict(page_size=page, n_pages=(1 << 30) // memtier_page(page), copy="cpu", workers=1,
                         batched=True, exchange=False, scope="syscall"))
    return pd.DataFrame(rows)


def memtier_page(text):
    from memtier import parse_page_size

    return parse_page_size(text)


def test_structure_chosen_when_the_data_tell():
    """Rows made by the folio structure (with a floor of serial work) at 1-16 channels: the
    fit picks folio, says it is clear, and describes the rows; and it finds the batch limit
    the rows were made with, mainline's or the series' testing one."""
    truth = ModelParams(dma_structure="folio", dma_channel_gbps=8.0, dma_ceiling_gbps=60.0, dma_entry_us=0.2,
                        dma_descriptor_us=0.3, dma_map_entry_us=0.1, dma_overlap=0.9, pte_us=0.3)
    design = _dma_design()
    design["gbps"] = table_gbps(truth, _configs(design))
    result = fit(design, bootstrap=0)
    assert result.params.dma_structure == "folio"
    assert result.structure["how"].startswith("clear")
    assert result.median_error < 0.01
    assert "DMA structure: folio (clear" in result.report()
    assert result.params.migrate_batch_pages == 512 and result.structure["batch_how"].startswith("clear")
    testing = truth.replace(migrate_batch_pages=262144)
    design["gbps"] = table_gbps(testing, _configs(design))
    result = fit(design, bootstrap=0, structure="folio", channels_per_engine=1)
    assert result.params.migrate_batch_pages == 262144 and result.structure["batch_how"].startswith("clear")
    assert result.median_error < 0.01


def test_same_node_rows_refused_by_fit_and_warned_by_cli(tmp_path, capsys):
    from memtier.cli import main

    rows = rfc_2019().head(6).copy()
    rows.loc[rows.index[:2], "notes"] = "same-node: pages already on node 0, no data moved"
    with pytest.raises(ValueError, match="within one node"):
        fit(rows, bootstrap=0)
    path = tmp_path / "mixed.csv"
    rows.drop(columns=["given", "time_us"]).to_csv(path, index=False)
    assert main(["fit", str(path), "--bootstrap", "0"]) == 0
    out, err = capsys.readouterr()
    warning = [line for line in err.splitlines() if "within one node" in line]
    assert len(warning) == 1 and "2 row(s)" in warning[0]
    assert "4 measurements fitted" in out


def test_sensitivity_of_a_parameter_a_denormal_above_its_bound():
    """A solver can leave a parameter a few denormals above a bound of 0; 5% of it underflows
    to 0, and the sensitivity was 0 / 0, which made the identifiability check's SVD fail."""
    from memtier.model.cost import prepare_table
    from memtier.model.fitting import _sensitivity

    table = load_measurements(Path(__file__).parent / "data" / "measured_copy_2cores.csv")
    names = ["dispatch_us", "copy_gbps_per_thread", "mt_page_us"]
    values = ModelParams().replace(dispatch_us=5e-324).to_array()
    jac = _sensitivity(values, prepare_table(table), names)
    assert np.all(np.isfinite(jac))
    result = fit(table, bootstrap=0)  # failed with "SVD did not converge" before
    assert np.isfinite(result.median_error) and result.median_error < 0.5


def test_probe_finds_a_term_the_solution_cannot_see():
    """A shared path of 5 us per descriptor bounds the copy of many channels through a max():
    at 0 its branch is inactive and its sensitivity is exactly zero, so a check at the solution
    cannot choose it.  The probe fits it from where it starts to act, keeps it (the AIC falls
    far more than 4) and finds 5 us; rows made without it leave it open at 0."""
    from memtier.model.cost import prepare_table
    from memtier.model.fitting import _probe, _sensitivity

    truth = ModelParams(dma_structure="folio", dma_channel_gbps=8.0, dma_ceiling_gbps=60.0, dma_entry_us=0.2,
                        dma_descriptor_us=0.3, dma_map_entry_us=0.1, dma_overlap=0.9, pte_us=0.3,
                        migrate_batch_pages=262144)
    chosen = ["dma_channel_gbps", "dma_entry_us", "dma_descriptor_us", "dma_overlap", "pte_us"]
    candidates = chosen + ["dma_shared_descriptor_us"]
    for shared in (5.0, 0.0):
        design = _dma_design()
        design["gbps"] = table_gbps(truth.replace(dma_shared_descriptor_us=shared), _configs(design))
        prepared = prepare_table(_configs(design))
        at_zero = truth.to_array()  # the shared path stated at 0: absent
        assert truth.dma_shared_descriptor_us == 0.0
        assert np.all(_sensitivity(at_zero, prepared, ["dma_shared_descriptor_us"]) == 0.0)
        target = design["gbps"].to_numpy(np.float64)
        (values, _, kept), found = _probe(prepared, (at_zero, np.inf, chosen), at_zero, target, candidates)
        fitted = values[ModelParams.names().index("dma_shared_descriptor_us")]
        if shared:
            assert "dma_shared_descriptor_us" in kept and fitted == pytest.approx(shared, rel=0.02)
            assert found["dma_shared_descriptor_us"].startswith("fitted")
        else:
            assert "dma_shared_descriptor_us" not in kept and fitted == 0.0
            assert found["dma_shared_descriptor_us"].startswith("open")


def test_the_stated_engine_layout_is_tried():
    """A machine stated with 16 queues per engine (an AE4DMA) has that layout among those the
    fit compares, beside 1, 2 and 4; the default's (1) adds nothing."""
    from memtier.model.fitting import ENGINE_CHOICES, _layouts_to_try

    rows = amd_zen3_2026()
    tried = _layouts_to_try(rows, ModelParams(dma_channels_per_engine=16), None, None)[1]
    assert tried == [*ENGINE_CHOICES, 16]
    assert _layouts_to_try(rows, ModelParams(), None, None)[1] == list(ENGINE_CHOICES)


# --- issue 8: rows not fitted when the model was built (the 2025 postings, same AMD machine) ---

from memtier.measurement.datasets import amd_zen3_2025  # noqa: E402


@pytest.mark.slow  # one fit of the 1-4 counts: 16-29 s on the project's 2-core VM at loads of 3-4
def test_amd_2025_held_out_threads_and_channels():
    """Regression guard, measured and not tuned (docs/cost-model.md, "Rows not fitted when the
    model was built"): the V3 posting's rows (2025-09-23) at 1, 2 and 4 threads or channels
    predict its 8, 12 and 16, with the ceiling of the DMA engines stated at the machine's socket
    link.  Measured 2026-11-27 on the project's 2-core VM: all 48 rows median 6.6%, largest
    54.2%; DMA 4.6% / 23.2%; CPU 11.0% / 54.2%.  The bounds are those figures plus a margin.
    The largest misses are the THPs copied by 8-16 CPU threads, predicted 33-54% fast: the rows
    plateau at 33.5-35.9 GB/s, below the socket link, while the DMA rows pass it (63.7 GB/s), and
    1-4 threads leave the model's one CPU ceiling unbounded.  If they stop being missed, the
    model has changed; update the figures and the doc."""
    rows = amd_zen3_2025()
    v3 = rows[rows["source"] == "SG-RFCv3-2025-09-23"].reset_index(drop=True)
    held = cross_validate(v3, hold_out_counts=[8, 12, 16], base=amd_zen3_2026_machine())
    assert len(held) == 48 and set(held["held_out_count"]) == {8, 12, 16}
    trained = held.attrs["fit"]
    assert trained.params.dma_structure == "folio" and trained.params.migrate_batch_pages == 262144
    assert trained.params.dma_channels_per_engine == 2
    errors = held["relative_error"].abs()
    assert errors.median() <= 0.09 and errors.max() <= 0.65
    dma = held["copy"] == "dma"
    assert errors[dma].median() <= 0.07 and errors[dma].max() <= 0.28
    thp_threads = held[~dma & (held["page_size"] == 2 << 20)]
    assert len(thp_threads) == 3 and (thp_threads["relative_error"] > 0.2).all()
