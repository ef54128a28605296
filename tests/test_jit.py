"""numba's caches are stamped with the kernel's whole subpackage, not its file alone."""
import subprocess
import sys
from pathlib import Path

from memtier import _jit
from memtier.simulation.policies import hemem
from memtier.traces import _lackey_parser

ROOT = Path(__file__).resolve().parent.parent


def test_a_policy_kernel_is_stamped_with_its_subpackage():
    locator = hemem._run._cache._impl.locator
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
