"""The resumable training loop and the CAE trainer (tiny runs on a synthetic folder)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from latentpress.train.loop import CHECKPOINT, LOG, TrainConfig, train


def _run(folder, steps, stop_after=0, time_budget=0.0, decay_at=0):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    def step_fn(step):
        generator = torch.Generator().manual_seed(step)
        x = torch.randn(16, 4, generator=generator)
        loss = torch.mean((model(x)[:, 0] - x.sum(1)) ** 2)
        return loss, {"loss": loss.item()}

    config = TrainConfig(steps=steps, learning_rate=1e-2, checkpoint_every=4, log_every=2,
                         threads=1, stop_after=stop_after, time_budget=time_budget,
                         decay_at=decay_at)
    return train(model, step_fn, config, folder), model


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    done, straight = _run(tmp_path / "straight", 10)
    assert done == 10
    assert _run(tmp_path / "split", 10, stop_after=5)[0] == 5
    assert load_file(str(tmp_path / "split" / CHECKPOINT))        # stopped with a checkpoint
    with open(tmp_path / "split" / LOG, "a") as log:        # a step logged, then killed
        log.write(json.dumps({"step": 6, "loss": 0.0}) + "\n" + '{"step": 7, "lo')   # cut short
    done, resumed = _run(tmp_path / "split", 10)
    assert done == 10
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    logged = [json.loads(line) for line in (tmp_path / "split" / LOG).read_text().splitlines()]
    assert [r["step"] for r in logged] == [2, 4, 5, 6, 8, 10]     # 5 and 6: one-step windows
    assert logged[2]["loss"] > 0
    assert logged[-1]["lr"] == pytest.approx(1e-3)                 # the last 15% at a tenth


def test_explicit_decay_step(tmp_path):
    _run(tmp_path / "d", 6, decay_at=2)
    logged = [json.loads(line) for line in (tmp_path / "d" / LOG).read_text().splitlines()]
    assert [r["lr"] for r in logged] == pytest.approx([1e-2, 1e-3, 1e-3])


def test_time_budget_fixes_the_step_count_after_calibration(tmp_path):
    from latentpress.train.loop import CALIBRATION
    done, model = _run(tmp_path / "budget", 100_000, time_budget=1e-3)
    assert done == CALIBRATION
    from safetensors import safe_open
    with safe_open(str(tmp_path / "budget" / CHECKPOINT), "pt") as handle:
        assert handle.metadata()["step"] == str(CALIBRATION)      # it stopped there, too
    assert json.loads((tmp_path / "budget" / "config.json").read_text())["steps"] == CALIBRATION
    assert _run(tmp_path / "budget", 100_000, time_budget=1e-3)[0] == CALIBRATION   # a resume keeps the count


@pytest.fixture()
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("component", ["luma", "chroma"])
def test_cae_trainer_exports_weights_the_codec_model_loads(tmp_path, photos, component):
    from latentpress.codecs.cae.model import CHROMA, LUMA, ConvolutionalAutoencoder
    from latentpress.train import cae
    out = tmp_path / "w.safetensors"
    cae.main(["--component", component, "--data", str(photos), "--run", str(tmp_path / "run"),
              "--steps", "2", "--batch", "2", "--crop", "32", "--threads", "1", "--export", str(out)])
    model = ConvolutionalAutoencoder(LUMA if component == "luma" else CHROMA)
    tensors = load_file(str(out))
    assert all(t.dtype == torch.float16 for t in tensors.values())
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    from safetensors import safe_open
    with safe_open(str(tmp_path / "run" / CHECKPOINT), "pt") as handle:
        assert handle.metadata()["step"] == "2"


def test_gan_trainer_resumes_and_exports_an_autoencoder(tmp_path, photos):
    from latentpress.codecs.cnnae.model import BlockAutoencoder
    from latentpress.train import gan
    base = ["--data", str(photos), "--run", str(tmp_path / "gan"), "--batch", "2", "--threads", "1"]
    gan.main(base + ["--steps", "2"])
    gan.main(base + ["--steps", "3", "--export", str(tmp_path / "g.safetensors")])
    logged = [json.loads(line) for line in (tmp_path / "gan" / LOG).read_text().splitlines()]
    assert [r["step"] for r in logged] == [2, 3]
    BlockAutoencoder().load_state_dict({k: v.float() for k, v in load_file(str(tmp_path / "g.safetensors")).items()})


def test_checkpoints_of_the_older_nested_layout_still_resume(tmp_path):
    from latentpress.train.loop import read_checkpoint, write_checkpoint
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / CHECKPOINT
    write_checkpoint(path, {"net.": model, "opt.": optimizer}, {"step": "1"})
    tensors = load_file(str(path))           # the older layout: "opt.optimizer.0.square_avg"
    save_file({k.replace("opt.", "opt.optimizer.", 1): v for k, v in tensors.items()}, str(path), {"step": "1"})
    fresh = torch.nn.Linear(3, 2)
    fresh_optimizer = torch.optim.RMSprop(fresh.parameters(), lr=0.1)
    assert read_checkpoint(path, {"net.": fresh, "opt.": fresh_optimizer}) == {"step": "1"}
    assert torch.equal(fresh_optimizer.state_dict()["state"][0]["square_avg"],
                       optimizer.state_dict()["state"][0]["square_avg"])


def test_overfit_arm_trainer_makes_rows_and_weights_the_codec_can_use(tmp_path, photo, monkeypatch):
    """rows → train → export on two small crops of a photograph: the exported ARM has the
    shipped layout and, loaded as the shipped one, codes an image that decodes."""
    import latentpress
    from latentpress.codecs.overfit import base_arm
    from latentpress.train import overfit_arm
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (top, left) in enumerate(((0, 0), (64, 96))):
        Image.fromarray(np.ascontiguousarray(photo[top:top + 192, left:left + 224])).save(folder / f"1{i}.png")
    rows, weights = tmp_path / "rows.safetensors", tmp_path / "arm.safetensors"
    overfit_arm.main(["rows", "--photos", str(folder), "--out", str(rows), "--rows", "500"])
    overfit_arm.main(["train", "--rows", str(rows), "--steps", "30", "--export", str(weights),
                      "--report", str(tmp_path / "report.json")])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["training rows"] + report["validation rows"] == 2 * len(overfit_arm.QUALITIES) * 500
    integers = overfit_arm.load_integers(weights)
    assert [t.shape for t in integers] == base_arm.shapes(base_arm.LEVELS, base_arm.COLOURS)
    monkeypatch.setattr(base_arm, "shipped", lambda: tuple(integers))
    image = np.ascontiguousarray(photo[:96, :128])
    assert latentpress.decode(latentpress.encode(image, "overfit", quality=60)).shape == image.shape
