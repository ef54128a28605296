"""environment.yml and pyproject.toml agree: the same packages with the same lower bounds."""
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
#: pyproject's packages that environment.yml leaves out on purpose (it says why in a comment).
NOT_IN_CONDA = {"libcachesim": "test only, pip wheels"}


def lower_bound(specifier: SpecifierSet):
    bounds = [Version(s.version) for s in specifier if s.operator == ">="]
    return max(bounds) if bounds else None


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return project["requires-python"], {Requirement(line).name.lower(): Requirement(line) for line in lines}


def conda_requirements():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [d for entry in environment["dependencies"] if isinstance(entry, dict) for d in entry.get("pip", [])]
    requirements = {}
    for line in conda:
        requirement = Requirement(line.replace(" ", ""))
        requirements[requirement.name.lower()] = requirement
    return environment, requirements, pip


def test_same_packages_and_lower_bounds():
    _, wanted = pyproject_requirements()
    environment, conda, pip = conda_requirements()
    assert environment["channels"] == ["conda-forge"]
    assert "-e ." in pip, "environment.yml must install memtier itself (pip: -e .)"
    missing = sorted(set(wanted) - set(conda) - set(NOT_IN_CONDA))
    extra = sorted(set(conda) - set(wanted) - {"python", "pip"})
    assert not missing, f"in pyproject.toml, not in environment.yml: {missing}"
    assert not extra, f"in environment.yml, not in pyproject.toml: {extra}"
    for name, requirement in wanted.items():
        if name in NOT_IN_CONDA:
            assert name not in conda and name not in " ".join(pip)
            continue
        ours, theirs = lower_bound(conda[name].specifier), lower_bound(requirement.specifier)
        assert ours == theirs, f"{name}: environment.yml says >={ours}, pyproject.toml >={theirs}"


def test_python_range_matches_and_is_capped():
    requires_python, _ = pyproject_requirements()
    _, conda, _ = conda_requirements()
    python = conda["python"].specifier
    assert lower_bound(python) == lower_bound(SpecifierSet(requires_python))
    # capped below the first Python without wheels for every dependency (libcachesim, numba)
    assert "3.13" in python and "3.14" not in python
