"""numba's caches: stamped with the kernel's whole subpackage, not its file alone; read without
making numba's whole target ready where start-up counts."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memtier import _jit
from memtier.simulation.policies import hemem
from memtier.traces import _lackey_parser

ROOT = Path(__file__).resolve().parent.parent


def _python_with_cache(code: str, cache) -> str:
    """``code`` run by a fresh interpreter with numba's cache in ``cache``; its standard output."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_policy_kernel_is_stamped_with_its_subpackage():
    locator = hemem.run_policy._cache._impl.locator
    assert isinstance(locator, (_jit.InTreeSubpackageLocator, _jit.UserDirSubpackageLocator))
    own, package = locator.get_source_stamp()
    # the helpers it inlines live in _driver.py and active_shrink.py: both are in the digest
    assert package == _jit.subpackage_digest(hemem.__file__)
    assert package == _jit.subpackage_digest(str(ROOT / "memtier/simulation/policies/_driver.py"))
    assert package != _jit.subpackage_digest(_lackey_parser.__file__)


def test_the_digest_follows_every_file_of_the_folder(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    before = _jit._source_digest(tmp_path)
    assert _jit._source_digest(tmp_path) == before
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")  # a neighbour's helper edited
    assert _jit._source_digest(tmp_path) != before
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    assert _jit._source_digest(tmp_path) == before


def test_a_file_outside_memtier_keeps_numbas_own_locator(tmp_path):
    module = tmp_path / "outside.py"
    module.write_text("import numba\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import memtier._jit, outside; "
            "outside.f(1); print(type(outside.f._cache._impl.locator).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT)
    assert result.stdout.strip() in ("InTreeCacheLocator", "UserProvidedCacheLocator")


def test_quick_load_compiles_on_a_miss_then_loads_the_same_code_without_numbas_whole_target(tmp_path):
    """:func:`memtier._jit.njit_quick_load`: a first process finds no cache and compiles (numba's
    compiler readies the whole target itself); the next one loads the machine code with only
    numba's runtime made ready (no ``numba.np.arraymath``, which the full refresh imports)
    and gets the same results."""
    if not _jit._QUICK_LOAD:
        pytest.skip("this numba has no FunctionCache._load_overload: kernels load the usual way")
    (tmp_path / "quick.py").write_text(
        "import numpy as np\n"
        "from memtier._jit import njit_quick_load, load_kernel\n"
        "@njit_quick_load\n"
        "def scaled_sum(values, out, factor):\n"
        "    total = 0.0\n"
        "    for i in range(values.size):\n"
        "        out[i] = values[i] * factor\n"
        "        total += out[i]\n"
        "    return total\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            "import numpy as np, quick\n"
            "from numba import types\n"
            "array = types.Array(types.float64, 1, 'C')\n"
            "quick.load_kernel(quick.scaled_sum, (array, array, types.float64))\n"
            "values, out = np.arange(5.0), np.zeros(5)\n"
            "total = quick.scaled_sum(values, out, 2.0)\n"
            "hits = sum(quick.scaled_sum.stats.cache_hits.values())\n"
            "print(total, out.tolist(), hits, len(quick.scaled_sum.overloads), 'numba.np.arraymath' in sys.modules)\n")

    def one_process():
        return _python_with_cache(code, tmp_path / "cache").split()

    first, second = one_process(), one_process()
    expected = ["20.0", "[0.0,", "2.0,", "4.0,", "6.0,", "8.0]"]
    assert first[:6] == expected and first[6:] == ["0", "1", "True"]  # compiled: the whole target
    assert second[:6] == expected and second[6:] == ["1", "1", "False"]  # loaded: the runtime alone


def test_prefetch_each_takes_any_tuple_of_arrays_and_changes_nothing():
    """``_jit.prefetch_each``: one kernel over a tuple of arrays of three dtypes and ranks, indices
    past their ends included (a prefetch never faults), and over the empty tuple; every array
    is left as it was and the kernel's own result is unchanged."""
    import numba
    import numpy as np

    @numba.njit
    def kernel(arrays, values):
        total = 0
        for i in range(values.shape[0] + 4):
            _jit.prefetch_each(arrays, np.uint64(i))
            _jit.prefetch_each((), i)
            if i < values.shape[0]:
                total += values[i]
        return total

    arrays = (np.arange(5, dtype=np.int64), np.arange(10, dtype=np.int8).reshape(5, 2),
              np.full(5, 0.5))
    copies = [a.copy() for a in arrays]
    assert kernel(arrays, np.arange(7)) == 21
    for array, copy in zip(arrays, copies):
        np.testing.assert_array_equal(array, copy)


def test_trailing_zeros_lists_a_words_set_bits_lowest_first():
    """The intrinsic mglru's walks visit young pages with: against Python on random words."""
    import numba
    import numpy as np

    @numba.njit
    def set_bits(word, out):
        n = 0
        while word != 0:
            out[n] = _jit.trailing_zeros(word)
            n += 1
            word &= word - np.uint64(1)
        return n

    rng = np.random.default_rng(4)
    words = [0, 1, 1 << 63, (1 << 64) - 1, *rng.integers(0, 1 << 63, 50, dtype=np.uint64) * 2 + 1,
             *(np.uint64(1) << rng.integers(0, 64, 20).astype(np.uint64))]
    out = np.zeros(64, dtype=np.uint64)
    for word in words:
        n = set_bits(np.uint64(word), out)
        assert list(out[:n]) == [b for b in range(64) if int(word) >> b & 1], hex(int(word))


def test_leading_zeros_gives_the_highest_set_bit():
    """The intrinsic memtis's ``get_idx`` takes log2 with: against Python's bit_length on
    words of every length, 0 included."""
    import numba
    import numpy as np

    @numba.njit
    def count(words, out):
        for i in range(words.size):
            out[i] = _jit.leading_zeros(words[i])

    rng = np.random.default_rng(5)
    words = np.array([0, 1, 2, 3, (1 << 64) - 1, 1 << 63, *((np.uint64(1) << np.arange(64, dtype=np.uint64))),
                      *rng.integers(0, 1 << 63, 50, dtype=np.uint64) >> rng.integers(0, 63, 50).astype(np.uint64)],
                     dtype=np.uint64)
    out = np.zeros(words.size, dtype=np.uint64)
    count(words, out)
    assert [int(v) for v in out] == [64 - int(w).bit_length() for w in words]


def test_memtis_get_idx_is_the_kernels_loop():
    """``get_idx`` in one ``leading_zeros``: the kernel's loop (floor(log2(num + 1)), at most
    15) on every count up to 2^17 and around each power of two."""
    import numba
    import numpy as np

    from memtier.simulation.policies import memtis

    def get_idx(num):  # mm/htmm_core.c
        num += 1
        cnt = 0
        while True:
            num >>= 1
            if num == 0:
                return cnt
            cnt += 1
            if cnt == 15:
                return cnt

    @numba.njit
    def each(nums, out):
        for i in range(nums.size):
            out[i] = memtis._get_idx(nums[i])

    powers = np.int64(1) << np.arange(62, dtype=np.int64)
    nums = np.concatenate([np.arange(1 << 17), powers - 2, powers - 1, powers]).astype(np.int64)
    nums = nums[nums >= 0]
    out = np.zeros(nums.size, dtype=np.int64)
    each(nums, out)
    assert out.tolist() == [get_idx(int(v)) for v in nums]


def test_when_compiling_speaks_once_for_a_real_compile_and_not_for_a_cache_hit(tmp_path):
    """:func:`memtier._jit.when_compiling`: the first process finds no cache and compiles two
    kernels (one calling the other): said once, before the compile; a second call in the same
    process compiles nothing: not said.  The next process loads both from the cache: not said."""
    (tmp_path / "kernels.py").write_text(
        "import numba\n"
        "@numba.njit(cache=True)\n"
        "def inner(x):\n"
        "    return x + 1\n"
        "@numba.njit(cache=True)\n"
        "def outer(x):\n"
        "    return inner(x) * 2\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            "import time, kernels\n"
            "from memtier._jit import when_compiling\n"
            "said = []\n"
            "for _ in range(2):\n"
            "    with when_compiling(lambda: said.append(len(kernels.outer.overloads))):\n"
            "        assert kernels.outer(1) == 4\n"
            "print(said, sum(kernels.outer.stats.cache_hits.values()))\n")

    def one_process():
        return _python_with_cache(code, tmp_path / "cache").strip()

    assert one_process() == "[0] 0"  # said once, while outer had no machine code yet; no cache hit
    assert one_process() == "[] 1"  # loaded from the cache: nothing said
