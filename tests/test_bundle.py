"""``bundle`` and ``verify``: the spec §4.3 layout from traced stand-in runs, checksums, tampering, --force."""

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import STANDIN_PKG, tracer
from parity_tracer.maintainer import bundle

@pytest.fixture(scope="module")
def runs(standin_runs):
    return {"legacy": standin_runs.legacy(), "npz": standin_runs.npz(), "npz_file": standin_runs.npz_file(),
            "legacy_work": standin_runs.legacy_work()}


def _cli(cmd, *args, cwd):
    return tracer(cmd, *args, cwd=cwd)


def _bundle(run_dir, dest, *extra):
    r = _cli("bundle", run_dir, dest, *extra, cwd=dest.parent)
    assert r.returncode == 0, r.stderr
    return r


def test_layout_of_a_simulated_run(runs, tmp_path):
    dest = tmp_path / "delivery"
    r = _bundle(runs["legacy"], dest, "--include", runs["legacy_work"])    # the model is saved outside the run
    assert "sha256sum -c checksums.txt" in r.stderr
    names = set(bundle.files_under(dest))
    for required in ("README.md", "checksums.txt", "parity_telemetry.json", "config.json", "raw_data.npz",
                     "history.json", "amplitude.npy", "phase.npy", "ground_truth_amp.npy",
                     "ground_truth_phase.npy"):
        assert required in names
    assert any(n.startswith("model_checkpoint/") for n in names)        # the legacy stand-in saves a model
    doc = json.loads((dest / "parity_telemetry.json").read_text())
    assert doc["inference"]["artifacts"]["amplitude_npy"] == "amplitude.npy"
    assert doc["training"]["checkpoint_artifact"] == "model_checkpoint"
    assert doc["comparison"]["ground_truth_artifacts"]["amplitude_npy"] == "ground_truth_amp.npy"
    assert doc["probe"]["artifacts"] == {"pre_npy": "probe_pre.npy", "post_npy": "probe_post.npy"}
    assert np.abs(np.load(dest / "probe_post.npy", allow_pickle=False)).mean() == pytest.approx(
        doc["probe"]["post_normalization"]["amplitude"]["mean"], rel=1e-5)
    config = json.loads((dest / "config.json").read_text())
    assert config["params_cfg"]["N"] == doc["configuration"]["N"]
    assert {"params_cfg", "dataclass_config", "spec_configuration"} <= set(config)
    with np.load(dest / "raw_data.npz", allow_pickle=False) as raw:
        assert sorted(raw.files) == ["ground_truth_amp", "ground_truth_phase"]
        assert np.array_equal(raw["ground_truth_amp"], np.load(dest / "ground_truth_amp.npy", allow_pickle=False))
    assert np.load(dest / "amplitude.npy", allow_pickle=False).ndim >= 2
    readme = (dest / "README.md").read_text()
    header = json.loads(next((runs["legacy"] / "streams").glob("*.jsonl")).read_text().splitlines()[0])
    assert "## Commands used" in readme and header["argv"][0] in readme and header["cwd"] in readme
    assert "PARITY_TRACER_MODULE_PREFIX=" + STANDIN_PKG % "legacy" in readme
    assert "## Environment" in readme and "## Deviations" in readme
    assert "`raw_data.npz` is partial" in readme and "probeGuess" in readme


def test_npz_run_bundles_the_input_file_itself(runs, tmp_path):
    dest = tmp_path / "b"
    _bundle(runs["npz"], dest, "--include", runs["npz_file"])
    assert (dest / "raw_data.npz").read_bytes() == runs["npz_file"].read_bytes()
    doc = json.loads((dest / "parity_telemetry.json").read_text())
    assert hashlib.sha256((dest / "raw_data.npz").read_bytes()).hexdigest() == \
        doc["provenance"]["dataset_source"]["checksum"]
    readme = (dest / "README.md").read_text()
    assert "sha256 matches the checksum recorded during the run" in readme
    assert "`model_checkpoint/` not bundled" in readme          # this path saves no model: a listed deviation


def test_sha256sum_accepts_the_checksums(runs, tmp_path):
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum not installed")
    dest = tmp_path / "b"
    _bundle(runs["legacy"], dest)
    r = subprocess.run(["sha256sum", "-c", "checksums.txt"], cwd=str(dest), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = [l.split("  ", 1)[1] for l in (dest / "checksums.txt").read_text().splitlines()]
    assert listed == sorted(listed) and "checksums.txt" not in listed
    assert all(not l.startswith("/") for l in listed)


def test_verify_ok_and_detects_tampering(runs, tmp_path):
    dest = tmp_path / "b"
    _bundle(runs["legacy"], dest, "--include", runs["legacy_work"])
    r = _cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("OK:"), r.stdout + r.stderr
    with open(dest / "phase.npy", "ab") as fh:
        fh.write(b"x")
    (dest / "history.json").unlink()
    (dest / "notes.txt").write_text("added later")
    ckpt = next(p for p in sorted((dest / "model_checkpoint").rglob("*")) if p.is_file())
    ckpt.write_bytes(b"")
    r = _cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 1
    out = r.stdout
    assert "MISSING  history.json" in out
    assert "ALTERED  phase.npy" in out and "ALTERED  %s" % ckpt.relative_to(dest).as_posix() in out
    assert "EXTRA    notes.txt" in out
    assert "FAILED: 1 missing, 2 altered, 1 extra" in out


@pytest.mark.parametrize("case", ["no_dir", "no_checksums", "malformed", "unsafe"])
def test_verify_unusable_bundle_exits_2(runs, tmp_path, case):
    dest = tmp_path / "b"
    if case != "no_dir":
        _bundle(runs["npz"], dest)
    sums = dest / "checksums.txt"
    if case == "no_checksums":
        sums.unlink()
    elif case == "malformed":
        sums.write_text(sums.read_text() + "not a checksum line\n")
    elif case == "unsafe":
        sums.write_text(sums.read_text() + "%s  ../outside.txt\n" % ("0" * 64))
    r = _cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("parity_tracer: verify:") and len(r.stderr.strip().splitlines()) == 1


def test_verify_reports_unlisted_required_member(runs, tmp_path):
    dest = tmp_path / "b"
    _bundle(runs["npz"], dest)
    sums = dest / "checksums.txt"
    sums.write_text("".join(l + "\n" for l in sums.read_text().splitlines() if not l.endswith("  config.json")))
    (dest / "config.json").unlink()
    r = _cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 1 and "UNLISTED config.json" in r.stdout


def test_existing_destination_and_force(runs, tmp_path):
    dest = tmp_path / "b"
    _bundle(runs["npz"], dest)
    before = (dest / "checksums.txt").read_text()
    r = _cli("bundle", runs["legacy"], dest, cwd=tmp_path)
    assert r.returncode == 2 and "not empty" in r.stderr and "--force" in r.stderr
    assert (dest / "checksums.txt").read_text() == before            # untouched
    r = _cli("bundle", runs["legacy"], dest, "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((dest / "parity_telemetry.json").read_text())["scenario"] == "legacy"
    assert _cli("verify", dest, cwd=tmp_path).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["b"]                 # no temporary directories left behind

    other = tmp_path / "precious"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    r = _cli("bundle", runs["npz"], other, "--force", cwd=tmp_path)
    assert r.returncode == 2 and "not a previous bundle" in r.stderr
    assert [p.name for p in other.iterdir()] == ["keep.txt"]

    empty = tmp_path / "empty"
    empty.mkdir()
    _bundle(runs["npz"], empty)                                          # an empty directory is fine


def test_unusable_run_and_destination(runs, tmp_path):
    r = _cli("bundle", tmp_path / "nothing", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2 and not (tmp_path / "out").exists()
    r = _cli("bundle", runs["npz"], runs["npz"].parent, cwd=tmp_path)   # would contain the run itself
    assert r.returncode == 2


def test_checksum_name_escaping_round_trip(tmp_path):
    (tmp_path / "a\\b.txt").write_text("x")
    (tmp_path / "plain.txt").write_text("y")
    bundle.write_checksums(tmp_path)
    text = (tmp_path / "checksums.txt").read_text()
    assert text.startswith("\\") and "a\\\\b.txt" in text
    entries = bundle.read_checksums(tmp_path)
    assert set(entries) == {"a\\b.txt", "plain.txt"}
    if shutil.which("sha256sum"):
        r = subprocess.run(["sha256sum", "-c", "checksums.txt"], cwd=str(tmp_path), capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
