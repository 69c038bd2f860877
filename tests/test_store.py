"""The model store: names, cache, verified downloads from a local server, magenta fetch,
loading every source into the same SketchRNN, and sketch-rnn-js export round trips."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from http_fixture import serve_directory

from sketchart.errors import SketchartError
from sketchart.hub import store
from sketchart.hub.catalog import UnknownModelError, catalog_entry
from sketchart.jsformat import read_js_model

JS_DIR = ("models", "sketch-rnn-js")
CKPT_DIR = ("fixtures", "reference", "magenta_checkpoint_small")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("SKETCHART_HOME", str(home))
    return home


@pytest.fixture
def google_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """../shared/models/sketch-rnn-js served on 127.0.0.1 as SKETCHART_MODEL_URL."""
    root = shared_path(*JS_DIR)
    with serve_directory(root) as url:
        monkeypatch.setenv("SKETCHART_MODEL_URL", url)
        yield url


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------ places, names
def test_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKETCHART_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store.cache_dir() == tmp_path / "home" / ".cache" / "sketchart"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert store.cache_dir() == tmp_path / "xdg" / "sketchart"
    monkeypatch.setenv("SKETCHART_HOME", str(tmp_path / "sk"))
    assert store.cache_dir() == tmp_path / "sk"


def test_model_url_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKETCHART_MODEL_URL", raising=False)
    assert store.model_url() == store.DEFAULT_MODEL_URL
    monkeypatch.setenv("SKETCHART_MODEL_URL", "http://127.0.0.1:1/models/")
    assert store.model_url() == "http://127.0.0.1:1/models"


def test_resolve_bare_and_google_names(cache: Path) -> None:
    src = store.resolve("The Mona Lisa")
    assert (src.name, src.kind, src.path) == ("google/the_mona_lisa", "google", None)
    assert store.resolve("google/flamingo").name == "google/flamingo"


def test_unknown_name_suggests_closest(cache: Path) -> None:
    with pytest.raises(UnknownModelError, match="did you mean flamingo") as err:
        store.resolve("flamingoo")
    assert "\n" not in str(err.value)


def test_magenta_name_before_fetch_says_how(cache: Path) -> None:
    with pytest.raises(SketchartError, match="sketchart models fetch magenta"):
        store.resolve("magenta/owl/lstm")


def test_path_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SketchartError, match="not a model"):
        store.resolve(tmp_path / "empty")
    with pytest.raises(SketchartError, match="no such file"):
        store.resolve(str(tmp_path / "missing.gen.json"))
    with pytest.raises(SketchartError, match="no such file"):
        store.resolve(str(tmp_path / "runs" / "sheep"))


# ----------------------------------------------------------------------- download
def test_download_verifies_and_caches(cache: Path, google_server: str) -> None:
    path = store.fetch_google("flamingo")
    assert path == cache / "google" / "flamingo.gen.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == catalog_entry("flamingo").sha256
    assert store.verify_cached("flamingo")
    assert store.resolve("flamingo").kind == "js"
    assert not list(path.parent.glob(".*"))  # no temporary left behind


def test_cached_copy_is_used_offline(cache: Path, google_server: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store.fetch_google("owl")
    monkeypatch.setenv("SKETCHART_MODEL_URL", _closed_port_url())
    assert store.fetch_google("owl") == cache / "google" / "owl.gen.json"


def test_offline_without_cache_says_how_to_get_the_file(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _closed_port_url()
    monkeypatch.setenv("SKETCHART_MODEL_URL", url)
    with pytest.raises(SketchartError) as err:
        store.fetch_google("flamingo")
    msg = str(err.value)
    assert "\n" not in msg and "offline" in msg and f"{url}/flamingo.gen.json" in msg
    assert "curl" in msg and str(cache / "google" / "flamingo.gen.json") in msg
    assert not (cache / "google").exists() or not any((cache / "google").iterdir())


def test_not_served_is_an_http_error(cache: Path, google_server: str) -> None:
    # "ant" is in the catalog but not among the 16 files served here
    with pytest.raises(SketchartError, match="HTTP 404"):
        store.fetch_google("ant")
    assert not list((cache / "google").iterdir())


def test_sha256_mismatch_is_rejected_and_cache_untouched(
        cache: Path, tmp_path: Path, google_server: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    good = store.fetch_google("flamingo").read_bytes()
    tampered = tmp_path / "evil"
    tampered.mkdir()
    data = bytearray(shared_path(*JS_DIR, "flamingo.gen.json").read_bytes())
    data[-10] = ord("A") if data[-10] != ord("A") else ord("B")
    (tampered / "flamingo.gen.json").write_bytes(bytes(data))
    with serve_directory(tampered) as url:
        monkeypatch.setenv("SKETCHART_MODEL_URL", url)
        with pytest.raises(SketchartError, match="sha256 mismatch") as err:
            store.fetch_google("flamingo", force=True)
    assert "cache untouched" in str(err.value)
    assert (cache / "google" / "flamingo.gen.json").read_bytes() == good
    assert sorted(p.name for p in (cache / "google").iterdir()) == ["flamingo.gen.json"]


def test_no_download_when_forbidden(cache: Path) -> None:
    with pytest.raises(SketchartError, match="not cached"):
        store.fetch_google("flamingo", download=False)


# ------------------------------------------------------------------------ loading
def test_load_by_name_downloads_and_matches_the_file(cache: Path, google_server: str) -> None:
    from sketchart.hub.convert import weights_by_role

    model = store.load_model("flamingo", engine="keras")
    assert model.hps.conditional is False and model.hps.dec_rnn_size == 512
    assert model.meta.scale_factor == pytest.approx(72.0492)
    assert model.meta.max_seq_len == 105
    js = read_js_model(cache / "google" / "flamingo.gen.json")
    roles = weights_by_role(model)
    np.testing.assert_array_equal(roles["decoder"]["W_hh"], js.weights["dec_W_hh"])
    np.testing.assert_array_equal(roles["output"]["b"], js.weights["output_b"])


def test_load_js_file_by_path() -> None:
    path = shared_path(*JS_DIR, "cat.gen.json")
    model = store.load_model(path)
    assert model.meta.max_seq_len == catalog_entry("cat").max_seq_len
    assert model.meta.class_names == ["cat"]


def _magenta_zip(tmp_path: Path, layout: str = "aaron_sheep/layer_norm") -> Path:
    """magenta's archive layout built from the small real checkpoint."""
    src = shared_path(*CKPT_DIR)
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    archive = served / "sketch_rnn.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.iterdir():
            if f.name.startswith("vector-12."):
                zf.write(f, f"{layout}/vector{f.name[len('vector-12'):]}")
        zf.write(src / "model_config.json", f"{layout}/model_config.json")
        zf.writestr(f"{layout}/checkpoint", 'model_checkpoint_path: "vector"\n'
                    'all_model_checkpoint_paths: "vector"\n')
    return archive


def _reference_batch_strokes3(scale_factor: float) -> tuple[list[np.ndarray], np.ndarray]:
    ref = np.load(shared_path(*CKPT_DIR, "reference_outputs.npz"))
    drawings = []
    for batch, n in zip(ref["input_data"], ref["sequence_lengths"], strict=True):
        rows = batch[1:n + 1]
        s3 = np.stack([rows[:, 0] * scale_factor, rows[:, 1] * scale_factor, rows[:, 3]], 1)
        drawings.append(s3.astype(np.float32))
    return drawings, ref["mu"]


def test_fetch_magenta_converts_and_loads_by_name(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sketchart.generate.sampling import encode, sample

    archive = _magenta_zip(tmp_path)
    with serve_directory(archive.parent) as url:
        monkeypatch.setenv("SKETCHART_MAGENTA_URL", f"{url}/sketch_rnn.zip")
        names = store.fetch_magenta()
    assert names == ["magenta/aaron_sheep/layer_norm"]
    with serve_directory(archive.parent) as url:
        monkeypatch.setenv("SKETCHART_MAGENTA_URL", f"{url}/sketch_rnn.zip")
        assert store.fetch_magenta(force=True) == names  # converted again, replaced
    assert not [p for p in (cache / "magenta").iterdir() if p.name.startswith(".")]
    assert "magenta/aaron_sheep/layer_norm" in [r.name for r in store.list_models()]
    model = store.load_model("magenta/aaron_sheep/layer_norm")
    assert model.hps.dec_model == "layer_norm" and model.hps.z_size == 16
    # magenta never saved the scale factor; aaron_sheep's is known (shared/README.md)
    assert model.meta.scale_factor == pytest.approx(18.5198)
    drawings, ref_mu = _reference_batch_strokes3(model.meta.scale_factor)
    np.testing.assert_allclose(encode(model, drawings), ref_mu, atol=2e-5)
    assert len(sample(model, 2, 0.5, seed=0, max_len=20)) == 2


def test_checkpoint_dir_loads_directly() -> None:
    from sketchart.hub.convert import read_checkpoint, reference_weights

    path = shared_path(*CKPT_DIR)
    model = store.load_model(path, engine="keras")
    arrays = read_checkpoint(path)
    for name, value in reference_weights(model).items():
        np.testing.assert_array_equal(value, arrays[name])


def test_magenta_zip_with_unsafe_paths_is_refused(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "sketch_rnn.zip", "w") as zf:
        zf.writestr("../../escape/model_config.json", "{}")
    with serve_directory(served) as url:
        monkeypatch.setenv("SKETCHART_MAGENTA_URL", f"{url}/sketch_rnn.zip")
        with pytest.raises(SketchartError, match="unsafe path"):
            store.fetch_magenta()
    assert not (tmp_path / "escape").exists()


def test_magenta_not_a_zip(cache: Path, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "sketch_rnn.zip").write_bytes(b"PK\x03\x04 truncated")
    with serve_directory(served) as url:
        monkeypatch.setenv("SKETCHART_MAGENTA_URL", f"{url}/sketch_rnn.zip")
        with pytest.raises(SketchartError, match="not a zip"):
            store.fetch_magenta()


# ------------------------------------------------------------------------- export
def test_gen_export_reproduces_google_file(tmp_path: Path) -> None:
    src = shared_path(*JS_DIR, "flamingo.gen.json")
    model = store.load_model(src)
    out, clipped = store.export_js(model, tmp_path / "flamingo.gen.json")
    assert clipped == 0
    original, again = json.loads(src.read_bytes()), json.loads(out.read_bytes())
    assert again[1] == original[1] and again[2] == original[2]
    assert again[0]["max_seq_len"] == 105 and again[0]["name"] == "flamingo"
    assert again[0]["scale_factor"] == pytest.approx(72.0492)


def _small_vae(seed: int = 0):  # type: ignore[no-untyped-def]
    from sketchart.hparams import HParams
    from sketchart.modeldir import ModelMeta
    from sketchart.nn.model import SketchRNN

    hps = HParams(enc_rnn_size=16, dec_rnn_size=24, z_size=8, num_mixture=4, max_seq_len=60,
                  use_recurrent_dropout=False, data_set=["aaron_sheep.npz"])
    model = SketchRNN(hps, seed=seed)
    model.meta = ModelMeta(scale_factor=18.5198, max_seq_len=60, data_set=hps.data_set,
                           class_names=["aaron_sheep"], source="sketchart")
    return model


@pytest.mark.parity
def test_vae_export_round_trip_reproduces_encode_and_decode(
        tmp_path: Path, sheep_npz: Path) -> None:
    from sketchart.data.datasets import load_npz
    from sketchart.generate.sampling import encode, sample

    model = _small_vae()
    first, _ = store.export_js(model, tmp_path / "sheep.vae.json")
    loaded = store.load_model(first)
    assert loaded.hps.conditional and loaded.meta.scale_factor == pytest.approx(18.5198)
    sketches = [s for s in load_npz(sheep_npz).split("test")[0] if len(s) <= 60][:3]
    # quantisation moves each weight by at most 10/32767/2: encodings agree closely
    np.testing.assert_allclose(encode(loaded, sketches), encode(model, sketches), atol=2e-3)
    # quantised weights are a fixed point: a second round trip is exact
    second, _ = store.export_js(loaded, tmp_path / "again.vae.json")
    reloaded = store.load_model(second)
    np.testing.assert_array_equal(encode(reloaded, sketches), encode(loaded, sketches))
    a = sample(loaded, 3, 0.3, seed=5, max_len=30)
    b = sample(reloaded, 3, 0.3, seed=5, max_len=30)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_export_refuses_other_cells_and_wrong_suffix(tmp_path: Path) -> None:
    model = store.load_model(shared_path(*CKPT_DIR))  # layer_norm decoder
    with pytest.raises(SketchartError, match="dec_model=layer_norm"):
        store.export_js(model, tmp_path / "x.vae.json")
    gen = store.load_model(shared_path(*JS_DIR, "owl.gen.json"))
    with pytest.raises(SketchartError, match=r"\*\.gen\.json"):
        store.export_js(gen, tmp_path / "owl.vae.json")
    assert not list(tmp_path.iterdir())


def test_shipped_models_resolve_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "models"
    for name in ("flamingo", "sheep-uncond"):
        (root / name).mkdir(parents=True)
        (root / name / "model_config.json").write_text("{}")
        (root / name / "model.weights.h5").write_bytes(b"")
    from sketchart.hub import cache

    monkeypatch.setattr(cache, "_shipped_root", lambda: root)
    assert store.resolve("flamingo") == store.ModelSource("flamingo", "modeldir",
                                                          root / "flamingo")
    assert store.resolve("Sheep Uncond").path == root / "sheep-uncond"
    assert store.resolve("google/flamingo").name == "google/flamingo"
    shutil.rmtree(root)


def test_damaged_cached_copy_says_how_to_replace_it(cache: Path, google_server: str) -> None:
    path = store.fetch_google("owl")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(SketchartError, match=r"models fetch google/owl --force") as err:
        store.load_model("owl")
    assert "truncated" in str(err.value) and "\n" not in str(err.value)


def test_model_dirs_and_log_roots_load(tmp_path: Path) -> None:
    from sketchart.hub.convert import reference_weights
    from sketchart.modeldir import save_model_dir

    model = _small_vae(seed=3)
    save_model_dir(model, tmp_path / "run" / "best", model.meta)
    for path in (tmp_path / "run", tmp_path / "run" / "best"):
        loaded = store.load_model(path, engine="keras")
        assert loaded.meta.scale_factor == pytest.approx(18.5198)
        want = reference_weights(model)
        for name, value in reference_weights(loaded).items():
            np.testing.assert_array_equal(value, want[name])
    assert store.resolve(tmp_path / "run").kind == "logroot"
