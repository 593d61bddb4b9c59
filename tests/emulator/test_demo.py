"""`make demo` tells exactly the story the emulator round asserts (tests/emulator/story.py): no second copy."""

import inspect

from tests.emulator import demo, story
from tests.emulator import test_round as round_module  # not its class: pytest would collect it here


def test_the_demo_walks_every_step_of_the_story_in_order():
    assert tuple(demo.TITLES) == story.STEPS
    for step in story.STEPS:
        assert callable(getattr(story.Story, step)), step


def test_the_round_runs_every_step_of_the_story_in_the_same_order():
    source = inspect.getsource(round_module.TestEmulatorRound)
    called = [step for step in story.STEPS if f"story.{step}()" in source]
    assert called == list(story.STEPS)
    positions = [source.index(f"story.{step}()") for step in story.STEPS]
    assert positions == sorted(positions)
