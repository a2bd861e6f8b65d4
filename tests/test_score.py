"""``python -m ebm score``: any image set scored with the sweeps' metric code, from every accepted input
kind."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchvision.utils import save_image

from ebm.cli import main
from ebm.data import load_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
X = (load_images("digits", split="test")[:40] * 255).round() / 255  # (40, 1, 8, 8): exact in an 8-bit PNG


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("score-cache"))  # one digits classifier and floor set for the module


def _score(capsys, path, cache, *extra):
    assert main(["score", str(path), "--data", "digits", "--resamples", "2", "--feature-cache", cache,
                 *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _files(tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, x in enumerate(X):
        save_image(x, folder / f"{i:03d}.png")
    save_image(X, tmp_path / "grid.png", nrow=6)  # 7 rows of 6: the last row holds 4, then 2 empty cells
    save_image(X, tmp_path / "grid0.png", nrow=8, padding=0)
    np.save(tmp_path / "x.npy", X.numpy())
    np.savez(tmp_path / "x.npz", labels=np.arange(40), samples=X.numpy())
    torch.save({"images": X}, tmp_path / "x.pt")
    return folder


def test_every_input_kind_gives_the_same_scores(tmp_path, capsys, cache):
    folder = _files(tmp_path)
    runs = {"folder": _score(capsys, folder, cache),
            "grid": _score(capsys, tmp_path / "grid.png", cache, "--count", "40"),
            "grid0": _score(capsys, tmp_path / "grid0.png", cache, "--padding", "0"),
            "npy": _score(capsys, tmp_path / "x.npy", cache),
            "npz": _score(capsys, tmp_path / "x.npz", cache), "pt": _score(capsys, tmp_path / "x.pt", cache)}
    assert runs["folder"]["read_as"] == "folder of 40 PNGs"
    assert runs["grid"]["read_as"] == "grid of 7x6 cells of 8x8 px, padding 2: the first 40 images"
    assert runs["grid0"]["read_as"].startswith("grid of 5x8 cells of 8x8 px, padding 0")
    ref = runs["npy"]
    assert ref["n"] == 40 and ref["data"] == "digits" and ref["reference"] == "digits test split, 300 images"
    assert (ref["kid_domain/network"].startswith("domain CNN v")
            and ref["kid_domain_floor"] < ref["kid_domain_ceiling"])
    for how, r in runs.items():
        for k in ("fid_domain", "kid_domain", "kid_domain_floor", "kid_domain_position"):
            assert r[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-12), (how, k)


def test_noise_scores_near_the_ceiling_and_a_limit_scores_the_first_images(tmp_path, capsys, cache):
    np.save(tmp_path / "noise.npy",
            torch.rand(100, 1, 8, 8, generator=torch.Generator().manual_seed(0)).numpy())
    noise = _score(capsys, tmp_path / "noise.npy", cache)
    assert noise["kid_domain_position"] > 0.7  # KID of 8x8 noise varies: 0.33-0.58 over 12 draws of 40 images
    np.save(tmp_path / "x.npy", X.numpy())
    first = _score(capsys, tmp_path / "x.npy", cache, "--limit", "30", "--metrics", "kid_domain")
    assert first["n"] == 30 and "fid_domain" not in first and first["kid_domain_position"] < 0.2


def test_one_png_of_the_data_set_s_size_is_one_image(tmp_path, capsys, cache):
    save_image(X[0], tmp_path / "one.png")
    r = _score(capsys, tmp_path / "one.png", cache)
    assert r["read_as"] == "one image" and r["n"] == 1
    assert r["kid_domain"] is None and "needs >= 2 samples" in r["kid_domain/missing"]  # missing, never 0


@pytest.mark.parametrize("make, extra, message", [
    (lambda p: np.save(p / "a.npy", X.numpy() * 255), [], "not [0, 1]; scale them (e.g. uint8 / 255"),
    (lambda p: np.save(p / "a.npy", X.permute(0, 2, 3, 1).numpy()), [], "channels-last"),
    (lambda p: np.save(p / "a.npy", X[:, 0].numpy()), [], "save (N, C, H, W) = (N, 1, 8, 8)"),
    (lambda p: np.savez(p / "a.npz", a=X.numpy(), b=X.numpy()), [],
     "holds several arrays (a, b); name one with --key"),
    (lambda p: (p / "a.png").write_bytes(b"not a png"), [], "is not a readable PNG"),
    (lambda p: save_image(torch.rand(3, 1, 9, 9), p / "a.png"), [], "does not divide into 8x8 cells"),
    (lambda p: (p / "a.txt").write_text("x"), [], "cannot read .txt"),
    (lambda p: (p / "a").mkdir(), [], "holds no .png files"),
    (lambda p: np.save(p / "a.npy", X.numpy()), ["--metrics", "fid"], "unknown image metric(s) fid"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make, extra, message):
    make(tmp_path)
    (path,) = [p for p in tmp_path.iterdir() if p.name.startswith("a")]
    assert main(["score", str(path), "--data", "digits", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err


def test_bad_input_as_a_user_sees_it(tmp_path):
    np.save(tmp_path / "rgb.npy", np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32))
    r = subprocess.run([sys.executable, "-m", "ebm", "score", str(tmp_path / "rgb.npy"), "--data", "mnist5k"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"error: {tmp_path / 'rgb.npy'} holds images of shape (3, 32, 32); the data "
                                "set's are (1, 28, 28): pick the --data of that shape or resize the samples")


def test_a_grid_s_blank_trailing_cells_are_kept_and_reported_never_dropped(tmp_path, capsys, cache):
    """An all-black cell may be make_grid's empty cell or a collapsed sample: dropping it could flatter a
    model."""
    save_image(X, tmp_path / "grid.png", nrow=6)  # 42 cells, the last 2 empty
    r = _score(capsys, tmp_path / "grid.png", cache)
    assert r["n"] == 42 and r["read_as"].startswith("grid of 7x6 cells of 8x8 px, padding 2: 42 images (2 "
                                                    "trailing")
    assert main(["score", str(tmp_path / "grid.png"), "--data", "digits", "--count", "43"]) == 2
    assert "holds 42 cells (7x6); pass 1..42" in capsys.readouterr().err
