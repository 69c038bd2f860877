"""The per-CPU choice of how TensorFlow's recurrence step runs (``nn.step_choice``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sketchart.nn import step_choice as sc


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No cached choice in this process or on disk; the cache in ``tmp_path``."""
    monkeypatch.setenv("SKETCHART_HOME", str(tmp_path))
    for name in ("SKETCHART_XLA_STEP", "SKETCHART_TRANSPOSED_PRODUCTS",
                 "SKETCHART_STEP_CHOICE", "SKETCHART_LANES"):
        monkeypatch.delenv(name, raising=False)
    sc._base_choice.cache_clear()
    yield tmp_path
    sc._base_choice.cache_clear()


def test_cpu_info_reads_the_features() -> None:
    info = sc.cpu_info()
    assert info.model and info.threads >= 1
    assert isinstance(info.amx, bool) and isinstance(info.avx512_bf16, bool)


def test_overrides_apply_at_every_call(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKETCHART_STEP_CHOICE", "default")
    assert sc.step_choice() == sc.StepChoice(True, True, sc.step_choice().source)
    monkeypatch.setenv("SKETCHART_XLA_STEP", "0")
    monkeypatch.setenv("SKETCHART_TRANSPOSED_PRODUCTS", "0")
    choice = sc.step_choice()
    assert not choice.xla_step and not choice.transposed and "override" in choice.source
    monkeypatch.setenv("SKETCHART_XLA_STEP", "1")
    assert sc.step_choice().xla_step
    assert sc.step_choice().lanes == 1  # the default measures nothing: one lane
    monkeypatch.setenv("SKETCHART_LANES", "2")
    assert sc.step_choice().lanes == 2
    monkeypatch.setenv("SKETCHART_LANES", "two")
    assert sc.step_choice().lanes == 1  # not a number: ignored, with a warning


def test_a_measured_choice_is_cached_per_cpu(fresh: Path) -> None:
    pytest.importorskip("tensorflow")
    first = sc.step_choice()
    assert first.source.startswith(("measured", "products measured"))
    table = json.loads((fresh / "step_choice.json").read_text())
    (key,) = table
    assert sc.cpu_info().model in key and table[key]["transposed"] == first.transposed
    sc._base_choice.cache_clear()
    again = sc.step_choice()
    assert again.source == "measured earlier on this CPU"
    assert (again.xla_step, again.transposed, again.lanes) == (
        first.xla_step, first.transposed, first.lanes)
    assert table[key]["lanes"] == first.lanes in (1, 2) and "lane" in first.detail


def test_a_cached_choice_without_lanes_is_measured_again(fresh: Path) -> None:
    # written before lanes were measured: the entry lacks them, so this CPU measures anew
    pytest.importorskip("tensorflow")
    info = sc.cpu_info()
    old = {"xla_step": True, "transposed": False, "source": "measured", "detail": ""}
    (fresh / "step_choice.json").write_text(json.dumps({sc._cache_key(info): old}))
    choice = sc.step_choice()
    assert choice.source != "measured earlier on this CPU" and "lane" in choice.detail
    table = json.loads((fresh / "step_choice.json").read_text())
    assert table[sc._cache_key(info)]["lanes"] == choice.lanes


def test_the_step_measurement_runs_both_ways() -> None:
    pytest.importorskip("tensorflow")
    xla, detail = sc.measure_step(True, batch=4, units=8, steps=3, rounds=1)
    assert isinstance(xla, bool) and "XLA step" in detail and "op by op" in detail


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_lanes_measurement_runs_both_ways(dtype: str) -> None:
    pytest.importorskip("tensorflow")
    lanes, detail = sc.measure_lanes(True, False, batch=5, units=(8, 12), steps=3,
                                     rounds=1, dtype=dtype)
    assert lanes in (1, 2) and "one lane" in detail and "2 lanes" in detail
    assert f"{dtype} steps at 8+12 units" in detail


@pytest.mark.parametrize("xla", ["1", "0"])
def test_transposed_products_match_scan_whatever_this_cpu_picks(
    xla: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The transposed path stays covered on a CPU whose measured choice is plain."""
    pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the transposed products are TensorFlow's loop")
    from test_backend import test_scan_products_matches_scan as check

    monkeypatch.setenv("SKETCHART_TRANSPOSED_PRODUCTS", "1")
    check(True, True, (1,), 3, 8, xla, monkeypatch)


def test_bfloat16_products_are_measured_in_bfloat16(fresh: Path) -> None:
    # oneDNN runs other kernels for bfloat16: which way is faster is measured again,
    # while the step's (float32) maths keep float32's XLA choice
    pytest.importorskip("tensorflow")
    f32 = sc.step_choice()
    bf16 = sc.step_choice("bfloat16")
    assert bf16.source == "bfloat16 products measured" and "bfloat16 products:" in bf16.detail
    assert bf16.xla_step == f32.xla_step
    table = json.loads((fresh / "step_choice.json").read_text())
    assert sorted(k.endswith("|bfloat16 products") for k in table) == [False, True]
    sc._base_choice.cache_clear()
    assert sc.step_choice("bfloat16").source == "measured earlier on this CPU"
