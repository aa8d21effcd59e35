import dataclasses
import shutil

import numpy as np
import pytest

from chaosbench import data
from chaosbench.data import card as cards
from chaosbench.data.build import _rebuild_matches
from chaosbench.data.generate import build_arrays
from chaosbench.data.store import load_npz, save_npz
from chaosbench.errors import ChaosbenchError, IntegrityError, UnknownNameError

V1 = [
    "chua", "duffing", "hindmarsh_rose", "lorenz63", "lorenz63_noisy", "lorenz63_short",
    "lorenz63_x", "lorenz96", "mackey_glass", "rossler",
]


def raw(name, split="train"):
    """A dataset's split in the system's units (undo the z-score with the frozen statistics)."""
    arrays = load_npz(data.data_dir() / f"{name}.npz")
    return arrays[split] * arrays["std"] + arrays["mean"]


def test_all_v1_datasets_present():
    assert set(V1) <= set(data.names())


@pytest.mark.parametrize("name", V1)
def test_dataset_shapes_and_normalisation(name):
    d = data.load(name)
    card = data.read_card(name)
    assert d.train.dtype == np.float32 and d.test.dtype == np.float32
    assert d.train.shape[0] == card.train_length and d.test.shape[0] == card.test_length
    assert d.train.shape[1] == d.test.shape[1] == d.obs_dim
    assert np.isfinite(d.train).all() and np.isfinite(d.test).all()
    np.testing.assert_allclose(d.train.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(d.train.std(0), 1, atol=1e-3)
    # Test statistics resemble train (same attractor; 1 000 steps are too few to say so) but the
    # orbits are different.
    if name != "lorenz63_short":
        assert np.all(np.abs(d.test.mean(0)) < 0.5) and np.all(np.abs(d.test.std(0) - 1) < 0.5)
    assert not np.allclose(d.train[:100], d.test[:100], atol=0.1)
    assert d.dt == card.dt and len(d.sha256) == 64


def test_lorenz63_family_shares_one_orbit():
    clean = raw("lorenz63")
    np.testing.assert_allclose(raw("lorenz63_short"), clean[:1000], atol=1e-4)
    noise = raw("lorenz63_noisy") - clean
    np.testing.assert_allclose(noise.std(0) / clean.std(0), 0.05, rtol=0.02)
    np.testing.assert_allclose(raw("lorenz63_noisy", "test"), raw("lorenz63", "test"), atol=1e-4)


def test_delay_embedding_columns_are_lagged_copies():
    x = raw("lorenz63_x")
    np.testing.assert_allclose(x[10:, 1], x[:-10, 0], atol=1e-4)
    np.testing.assert_allclose(x[20:, 2], x[:-20, 0], atol=1e-4)
    np.testing.assert_allclose(x[:-20, 0], raw("lorenz63")[20:, 0], atol=1e-4)  # span = 2 lags
    mg = raw("mackey_glass")
    np.testing.assert_allclose(mg[6:, 1], mg[:-6, 0], atol=1e-5)


def test_unknown_dataset_suggests_names():
    with pytest.raises(UnknownNameError, match="did you mean .*'lorenz63'"):
        data.load("lorenz_63")


@pytest.fixture
def data_copy(tmp_path):
    root = tmp_path / "datasets"
    shutil.copytree(data.data_dir(), root)
    return root


def test_tampered_array_is_refused_and_named(data_copy):
    path = data_copy / "duffing.npz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="duffing.npz does not match its sha256"):
        data.load("duffing", data_copy)
    check = {c.name: c for c in data.verify(["duffing", "chua"], data_copy, rebuild=False, progress=False)}
    assert not check["duffing"].ok and "duffing.npz sha256 mismatch" in check["duffing"].message
    assert check["chua"].ok


def test_tampered_card_and_missing_file(data_copy):
    card = data_copy / "chua.yaml"
    card.write_text(card.read_text().replace("alpha: 15.6", "alpha: 15.7"))
    with pytest.raises(IntegrityError, match="chua.yaml"):
        data.load("chua", data_copy)
    (data_copy / "rossler.npz").unlink()
    with pytest.raises(ChaosbenchError, match="rossler.npz is missing"):
        data.load("rossler", data_copy)


def test_unlisted_file_is_never_loaded(data_copy):
    shutil.copy(data_copy / "chua.yaml", data_copy / "extra.yaml")
    shutil.copy(data_copy / "chua.npz", data_copy / "extra.npz")
    with pytest.raises(IntegrityError, match="not listed"):
        data.load("extra", data_copy)


def test_verify_rebuilds_cards_exactly(data_copy):
    checks = data.verify(["duffing", "chua"], data_copy, progress=False)
    assert all(c.ok for c in checks), checks
    assert "train identical" in checks[1].message  # chua's orbit keeps to its frozen one on every platform seen


def test_verify_accepts_an_orbit_that_separated_on_the_same_attractor():
    """Another platform's last bit sends a chaotic orbit elsewhere: another path that still
    follows the card's equations step by step is accepted; a forged stretch is not."""
    card = dataclasses.replace(data.read_card("chua"), train_length=3000, test_length=3000)
    other = build_arrays(dataclasses.replace(card, seed=1))  # an orbit the seed-0 build does not reproduce
    frozen = {"train": other.train, "test": other.test, "mean": other.mean, "std": other.std}
    ok, message = _rebuild_matches(card, frozen)
    assert ok and "platform floating point" in message and "residual" in message
    forged = other.test.copy()
    forged[len(forged) // 2 :] = forged[len(forged) // 2]
    ok, message = _rebuild_matches(card, {**frozen, "test": forged})
    assert not ok and "do not follow the card's equations" in message


def test_verify_compares_whole_arrays(data_copy):
    """A constant second half of a test split, with a MANIFEST updated to match, is caught."""
    path = data_copy / "chua.npz"
    arrays = dict(load_npz(path))
    arrays["test"][len(arrays["test"]) // 2 :] = 0.0
    save_npz(path, **arrays)
    data.update_manifest(data_copy)
    (check,) = data.verify(["chua"], data_copy, progress=False)
    assert not check.ok and "do not follow the card's equations" in check.message


def test_verify_catches_a_card_that_no_longer_matches_its_arrays(data_copy):
    card = data_copy / "duffing.yaml"
    card.write_text(card.read_text().replace("gamma: 0.5", "gamma: 0.45"))
    data.update_manifest(data_copy)  # hashes agree again: only the rebuild can notice
    (check,) = data.verify(["duffing"], data_copy, progress=False)
    assert not check.ok and "card no longer matches its arrays" in check.message


def test_build_is_byte_reproducible(data_copy):
    before = (data_copy / "chua.npz").read_bytes()
    data.build_all(["chua"], data_copy, progress=False)
    assert (data_copy / "chua.npz").read_bytes() == before


@pytest.mark.parametrize(
    "text,message",
    [
        ("name: [unclosed", "malformed YAML"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("name: x\nversion: 1\nsystem: lorenz63\ndt: 0.01\ntrain_length: 10\n", "missing key"),
        ("name: x\nversion: 1\nsystem: lorenz63\ndt: 0.01\ntrain_length: 10\ntest_length: 10\ncolour: red\n", "unknown key"),
        ("name: x\nversion: 1\nsystem: lorenz63\ndt: -1\ntrain_length: 10\ntest_length: 10\n", "'dt' must be positive"),
        ("name: x\nversion: 1\nsystem: lorenz63\ndt: 0.01\ntrain_length: ten\ntest_length: 10\n", "train_length"),
    ],
)
def test_malformed_cards_are_one_line_errors(text, message):
    with pytest.raises(ChaosbenchError, match=message) as err:
        cards.parse(text, "card.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("card.yaml")


def test_card_with_bad_system_parameter(data_copy):
    card = data_copy / "chua.yaml"
    card.write_text(card.read_text().replace("alpha: 15.6", "alfa: 15.6"))
    with pytest.raises(ChaosbenchError, match="has no parameter 'alfa'"):
        data.build_all(["chua"], data_copy, progress=False)


# ---- the empirical-data path ----

def test_load_file_on_real_ecg(external):
    d = data.load_file(external / "gtf_ECG_pecuzal_5d_train.npy", dt=1.0,
                       test_path=external / "gtf_ECG_pecuzal_5d_test.npy", name="ecg")
    assert d.train.shape == (100000, 5) and d.test.shape == (100000, 5)
    np.testing.assert_allclose(d.train.mean(0), 0, atol=1e-4)
    assert d.card["empirical"] and len(d.card["files"]["test_sha256"]) == 64
    assert d.lambda_max is None


def test_load_file_splits_eeg_and_accepts_lambda(external):
    d = data.load_file(external / "gtf_EEG_train.npy", dt=1.0, test_fraction=0.25, lambda_max=0.05)
    assert d.train.shape == (7230, 64) and d.test.shape == (2410, 64)
    assert d.tau_pred_steps == pytest.approx(np.log(2) / 0.05)


def test_load_file_csv_and_1d(tmp_path):
    series = np.sin(np.arange(500) * 0.1)
    np.savetxt(tmp_path / "x.csv", np.stack([series, np.cos(series)], 1), delimiter=",")
    np.save(tmp_path / "y.npy", series)
    assert data.load_file(tmp_path / "x.csv", dt=0.1).train.shape == (400, 2)
    assert data.load_file(tmp_path / "y.npy", dt=0.1).train.shape == (400, 1)


@pytest.mark.parametrize(
    "array,message",
    [
        (np.full((500, 3), np.nan), "non-finite values"),
        (np.zeros((50, 4, 2)), "expected a \\(T, N\\) array"),
        (np.ones((20, 3)), "at least 100 needed"),
    ],
)
def test_bad_recordings(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ChaosbenchError, match=message):
        data.load_file(tmp_path / "bad.npy", dt=0.01)


def test_missing_and_pickled_recordings(tmp_path):
    with pytest.raises(ChaosbenchError, match="does not exist"):
        data.load_file(tmp_path / "nope.npy", dt=0.01)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 200, dtype=object), allow_pickle=True)
    with pytest.raises(ChaosbenchError, match="cannot parse"):
        data.load_file(tmp_path / "obj.npy", dt=0.01)
