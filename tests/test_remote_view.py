"""``gantui view``: a finished run folder replayed read-only, as the run reported it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from gantui.engine.pictures import image_grid as _grid
from gantui.engine.session import Session
from gantui.headless import run_headless
from gantui.protocol import (
    ComparedRows,
    Finished,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    SetK,
    StateChanged,
    Stop,
)
from gantui.remote.filecontroller import FileController, split_grid
from gantui.remote.paths import RemoteError
from gantui.ui.app import GanApp
from tests.engine_helpers import Events, smoke_config
from tests.fakes import run_async


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("view") / "run"
    session = Session.create(smoke_config("train.steps=60"), run_dir=folder)
    assert run_headless(session, Console(file=io.StringIO())) == 0
    with open(folder / "events.jsonl", "a") as f:  # a viewer's k change, as a served run records it
        record = {"step": 30, "t": 0.2, "kind": "k", "detail": "k = 2", "by": "viewer 1 (pid 9)"}
        f.write(json.dumps(record) + "\n")
    return folder


@pytest.fixture(scope="module")
def longer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second run to compare with: another seed, twice as long."""
    folder = tmp_path_factory.mktemp("view") / "longer"
    session = Session.create(smoke_config("train.steps=120", "train.seed=7"), run_dir=folder)
    assert run_headless(session, Console(file=io.StringIO())) == 0
    return folder


def replay(folder: Path, *compare: Path) -> tuple[FileController, Events]:
    controller = FileController(folder, compare=compare)
    events = Events()
    controller.start(events)
    assert controller.join(20.0)
    return controller, events


def test_the_replay_reports_the_run_as_it_was(finished_run: Path) -> None:
    controller, events = replay(finished_run)
    lines = (finished_run / "metrics.jsonl").read_text().splitlines()
    steps = np.concatenate([b.column("step") for b in events.of(MetricsBatch)])
    assert steps.tolist() == [json.loads(line)["step"] for line in lines]
    state = events.of(StateChanged)[-1].state
    assert (state.status, state.step, state.loss, state.dataset, state.is_toy) == (
        "finished", 60, "nonsaturating", "ring8", True)
    marks = events.of(Intervention)
    assert [(m.kind, m.origin) for m in marks] == [("k", "viewer 1 (pid 9)")]  # checkpoints: log lines only
    assert any("final-0000060.pt" in n.message for n in events.of(Notice))
    samples = events.of(ImageSamples)[-1]
    assert samples.step == 50 and samples.fake.shape == (1, 400, 400, 3)  # the last scatter PNG, whole
    controller.send(SetK(3))
    assert "read-only" in events.of(Notice)[-1].message
    controller.send(Stop())
    assert isinstance(events.items[-1], Finished)


def test_further_folders_come_as_compared_rows_named_in_order(finished_run: Path, longer_run: Path) -> None:
    _controller, events = replay(finished_run, longer_run)
    own = np.concatenate([b.column("step") for b in events.of(MetricsBatch)])
    assert own.tolist() == [json.loads(line)["step"] for line in
                            (finished_run / "metrics.jsonl").read_text().splitlines()]  # A as before
    compared = events.of(ComparedRows)
    assert {(c.index, c.label, c.this) for c in compared} == {(1, "B", "A")}
    rows = [json.loads(line) for line in (longer_run / "metrics.jsonl").read_text().splitlines()]
    values = np.concatenate([c.values for c in compared])
    columns = compared[0].columns
    assert values[:, columns.index("step")].tolist() == [row["step"] for row in rows]
    assert values[:, columns.index("loss_d")].tolist() == [row["loss_d"] for row in rows]
    assert rows[-1]["step"] > own[-1]  # the longer run: the axis will span it
    named = [n.message for n in events.of(Notice) if n.message.startswith("comparing")]
    assert named == [f"comparing A = {finished_run}; B = {longer_run} ({len(rows):,} rows, to step "
                     f"{int(rows[-1]['step']):,})"]
    assert events.of(StateChanged)[-1].state.run_dir == str(finished_run)  # the state, marks: A's


@run_async
async def test_the_dashboard_compares_two_runs(finished_run: Path, longer_run: Path) -> None:
    app = GanApp(FileController(finished_run, compare=[longer_run]), losses={})
    rows = len((longer_run / "metrics.jsonl").read_text().splitlines())
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if app.comparison and len(app.comparison.runs[1].history) == rows and app.run_state \
                    and app.run_state.status == "finished":
                break
            await pilot.pause(0.05)
        app.refresh_plots()
        await pilot.pause()
        text = app.query_one("#plot-game").render().plain
        assert "D(x) A" in text and "D(x) B" in text
        last = json.loads((longer_run / "metrics.jsonl").read_text().splitlines()[-1])
        assert app.logged()[1] == last["step"]  # the axis spans the longer run


def test_sample_grids_split_back_into_the_images() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(1, 255, (10, 8, 8, 1), dtype=np.uint8)
    assert np.array_equal(split_grid(_grid(images), 8), images)  # the 6 empty cells of 4x4 dropped
    rgb = rng.integers(1, 255, (64, 5, 5, 3), dtype=np.uint8)
    assert np.array_equal(split_grid(_grid(rgb), 5), rgb)


def test_what_is_not_a_run_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="not a run folder"):
        FileController(tmp_path / "missing")
    with pytest.raises(RemoteError, match=r"no metrics\.jsonl, no config\.toml"):
        FileController(tmp_path)


@run_async
async def test_the_dashboard_opens_a_finished_run_and_q_closes_it(finished_run: Path) -> None:
    app = GanApp(FileController(finished_run), losses={})
    rows = len((finished_run / "metrics.jsonl").read_text().splitlines())
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if len(app.history) == rows and app.run_state and app.samples.samples is not None:
                break
            await pilot.pause(0.05)
        assert len(app.history) == rows and app.run_state.status == "finished"
        assert len(app.markers) == 1
        await pilot.press("q")
        for _ in range(100):
            if not app.is_running:
                break
            await pilot.pause(0.05)
        assert not app.is_running  # Finished came back at once: q closed the view
