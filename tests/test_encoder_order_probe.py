"""scripts/encoder_order_probe.py: frame labels follow the scene, order clips are the clear two-class ones,
and the probe's "heard first" reads the first frame above one half."""

import numpy as np
from _scripts import load_script

from sightsound.mini.targets import ORDER_TOLERANCE_S
from sightsound.synth.scene import make_source, new_scene


def _scene(*sources):
    return new_scene(3.0, 16000, list(sources))


def test_frame_labels_mark_each_class_while_it_sounds():
    probe = load_script("encoder_order_probe")
    scene = _scene(make_source("dog", slot="left", audible=True, events=[[0.0, 1.0]]),
                   make_source("bell", slot="right", audible=True, events=[[1.5, 3.0]]),
                   make_source("cat", slot="middle", audible=False))  # drawn, silent: never labelled
    y, times = probe.frame_labels(scene, 6, ["bell", "cat", "dog"])  # frames centred at 0.25, 0.75, ... 2.75 s
    assert times == [0.25, 0.75, 1.25, 1.75, 2.25, 2.75]
    assert y[:, 2].tolist() == [1, 1, 0, 0, 0, 0]
    assert y[:, 0].tolist() == [0, 0, 0, 1, 1, 1]
    assert not y[:, 1].any()


def test_order_clips_are_two_classes_with_clearly_different_onsets():
    probe = load_script("encoder_order_probe")
    dog_then_bell = _scene(make_source("bell", slot="right", audible=True, events=[[1.5, 3.0]]),
                           make_source("dog", slot="left", audible=True, events=[[0.2, 1.0]]))
    assert probe.two_class_order_clip(dog_then_bell) == ("dog", "bell")
    together = _scene(make_source("dog", slot="left", audible=True, events=[[1.0, 2.0]]),
                      make_source("bell", slot="right", audible=True, events=[[1.0 + ORDER_TOLERANCE_S / 2, 2.0]]))
    assert probe.two_class_order_clip(together) is None  # heard as together: no order to read
    same_class = _scene(make_source("dog", slot="left", audible=True, events=[[0.0, 1.0]]),
                        make_source("dog", slot="right", audible=True, events=[[2.0, 3.0]]))
    three = _scene(*[make_source(c, slot=s, audible=True, events=[[t, t + 0.5]])
                     for c, s, t in (("dog", "left", 0.0), ("bell", "middle", 1.0), ("cat", "right", 2.0))])
    assert probe.two_class_order_clip(same_class) is None and probe.two_class_order_clip(three) is None


def test_probe_first_reads_the_first_frame_above_half():
    probe = load_script("encoder_order_probe")
    classes = ["bell", "dog"]
    times = [0.25, 0.75, 1.25]
    probs = np.array([[0.1, 0.2], [0.2, 0.9], [0.8, 0.9]])  # dog from 0.75 s, bell from 1.25 s
    assert probe.probe_first(probs, times, ("bell", "dog"), classes) == "dog"
    never = np.array([[0.1, 0.2], [0.6, 0.2], [0.8, 0.3]])  # dog never heard: bell is first
    assert probe.probe_first(never, times, ("dog", "bell"), classes) == "bell"
