"""Moved modules and names keep working with a DeprecationWarning (lab.core._deprecation)."""

import sys
import types
import warnings

import pytest

from lab.core import alias_module, moved_attributes


def test_alias_module_returns_the_new_module_and_warns(tmp_path, monkeypatch):
    pkg = tmp_path / "labshimpkg"
    (pkg / "newhome").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "newhome" / "__init__.py").write_text("")
    (pkg / "newhome" / "thing.py").write_text("VALUE = 42\n_private = 1\n")
    (pkg / "thing.py").write_text(
        "from lab.core import alias_module\nalias_module(__name__, 'labshimpkg.newhome.thing')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.warns(DeprecationWarning, match=r"labshimpkg\.newhome\.thing"):
            import labshimpkg.thing as old
        import labshimpkg.newhome.thing as new

        assert old is new
        assert old.VALUE == 42 and old._private == 1
        assert sys.modules["labshimpkg.thing"] is new
        assert sys.modules["labshimpkg"].thing is new
    finally:
        for name in [m for m in sys.modules if m.startswith("labshimpkg")]:
            del sys.modules[name]


def test_alias_module_refuses_a_self_alias():
    with pytest.raises(ValueError, match="same"):
        alias_module("a.b", "a.b")


def test_moved_attributes_resolves_warns_and_rejects_unknown():
    getter = moved_attributes("lab.fake", {"sqrt": "math"})
    mod = types.ModuleType("lab.fake")
    mod.__getattr__ = getter  # type: ignore[method-assign]
    with pytest.warns(DeprecationWarning, match=r"lab\.fake\.sqrt moved to math\.sqrt"):
        assert mod.sqrt(9.0) == 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(mod, "nothing_here")


def test_rewrite_moved_command_maps_old_words_and_says_so(capsys):
    from lab.core import rewrite_moved_command

    moved = {("audit",): ("collision", "audit"), ("unlearn",): ("unlearning",)}
    new = rewrite_moved_command(["-v", "audit", "--k", "3"], moved, prog="lab privacy")
    assert new == ["-v", "collision", "audit", "--k", "3"]
    err = capsys.readouterr().err
    assert "'lab privacy audit' is deprecated" in err and "'lab privacy collision audit'" in err
    same = rewrite_moved_command(["collision", "audit"], moved, prog="lab privacy")
    assert same == ["collision", "audit"] and capsys.readouterr().err == ""
