"""Every app's ``--help``: a description, only its own config groups (from its defaults list),
the units, the output root and the exit statuses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from steeltwin.engine.apps._help import app_groups, app_help

ALL_GROUPS = {"geometry", "material", "boundary", "initial", "solver", "stress", "output",
              "experiment", "dataset", "model", "training", "data", "twin", "propagator"}
OWN = {
    "simulate": {"geometry", "material", "boundary", "initial", "solver", "stress", "output",
                 "experiment"},
    "datagen": {"dataset"},
    "train": {"model", "training", "data"},
    "evaluate": {"model", "training", "data"},
    "twin": {"geometry", "material", "boundary", "initial", "twin", "propagator"},
    "serve": {"twin", "propagator"},
}


@pytest.mark.parametrize("app", sorted(OWN))
def test_help_lists_only_the_apps_groups(app):
    assert {g for g, _ in app_groups(app)} == OWN[app]
    text = app_help(f"steeltwin-{app}", app, "what it does")
    listed = {line.split()[0] for line in text.split("Config groups")[1].split("\n\n")[0]
              .splitlines()[1:]}
    assert listed == OWN[app]
    assert not (ALL_GROUPS - OWN[app]) & listed
    assert text.startswith(f"steeltwin-{app}: what it does")
    assert "temperatures degC" in text and "lengths m" in text and "times s" in text
    assert "outputs/<app>/<date_time>/" in text and "2 invalid config" in text


def test_cli_help_marks_defaults_and_applies_overrides():
    done = subprocess.run([sys.executable, "-m", "steeltwin.engine.apps.simulate", "--help",
                           "geometry=h_beam"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("steeltwin-simulate: run one scenario")
    assert "slab*" in done.stdout and "dataset" not in done.stdout
    assert "kind: h_beam" in done.stdout  # the config shown is the one these overrides give
    bad = subprocess.run([sys.executable, "-m", "steeltwin.engine.apps.train", "--help",
                          "training.stepz=3"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "did you mean training.steps?" in bad.stderr
