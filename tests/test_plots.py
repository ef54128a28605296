"""Figures say what their marks are and keep every curve in view."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import memtier  # noqa: E402
from memtier import datasets, plots  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    return memtier.default_fit()


def test_scaling_lines_are_dotted_beyond_the_measurements_and_the_legend_says_so(fitted):
    rfc = datasets.rfc_2019()
    rows = rfc[(rfc["page_size"] == 2 << 20) & (rfc["n_pages"] == 16) & rfc["exchange"] & (rfc["scope"] == "migrate")]
    fig, ax = plt.subplots()
    plots.plot_scaling(fitted, rows, ax=ax)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert plots.MEASURED_LABEL in labels and plots.MODELLED_LABEL in labels and plots.BAND_LABEL in labels
    dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
    # every series is modelled up to twice the largest measured workers, unbatched exchange included
    assert len(dotted) == rows.groupby("batched").ngroups
    assert all(line.get_xdata().max() == 2 * rows["workers"].max() for line in dotted)
    # the solid part stays within what was measured: unbatched exchange was measured at 1 thread only
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert min(len(line.get_xdata()) for line in solid) == 1
    plt.close(fig)


def test_what_if_keeps_a_4k_page_in_view(fitted):
    fig, ax = plt.subplots()
    plots.plot_what_if(fitted.params, page_bytes=4096, n_pages=1, batched=False, compare=fitted.params, ax=ax)
    curve = ax.lines[0].get_ydata()
    low, high = ax.get_ylim()
    assert ax.get_yscale() == "log" and low < curve.min() and curve.max() < high
    assert high > fitted.params.link_gbps  # the ceiling is in view too
    # the legend sits under the axes, off the curves
    box = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    assert box.y1 <= ax.get_window_extent(fig.canvas.get_renderer()).y0
    plt.close(fig)


def test_dma_envelope_covers_the_fit_and_pins_the_measured_point(fitted):
    from memtier.reproduce import dma_fixed_envelope

    rfc = datasets.rfc_2019()
    dma = rfc[rfc["copy"] == "dma"]
    channels = np.array([1, 2, 4, 8, 16])
    low, high, fixed = dma_fixed_envelope(fitted, dma, channels, "copy")
    assert set(fixed) and all(name.startswith("dma_") and name not in fitted.free for name in fixed)
    modelled = memtier.throughput_gbps(fitted.params, 2 << 20, 1, workers=channels, dma=True, scope="copy")
    assert np.all(low <= modelled * 1.01) and np.all(modelled <= high * 1.01)
    # wide where nothing was measured, narrow at the one measured point (16 channels)
    assert (high[0] / low[0]) > 2 * (high[-1] / low[-1])


def test_simulation_plot_counts_pages_from_zero_without_an_offset():
    """The README's hot-set run moved 4999-5000 pages a period; the pages panel showed ticks
    -1.0 ... 0.0 under '+5e3'.  Counts are drawn from 0 and written out."""
    from memtier import workloads

    result = memtier.simulate(workloads.hot_set(2000, 40_000, hot_fraction=0.05, phases=2), "active-shrink", 200)
    figure = result.plot()
    pages = figure.axes[2]
    figure.canvas.draw()
    assert pages.get_ylim()[0] == 0
    assert pages.yaxis.get_major_formatter().get_offset() == ""
    assert pages.yaxis.get_major_formatter().get_useOffset() is False
    plt.close(figure)
