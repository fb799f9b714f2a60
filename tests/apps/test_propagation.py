"""Propagation: the frame-selection rule on hand-made runs, propagate() with the identity warper,
the pseudo-labeling baseline."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from posewarper_jax.apps import propagation
from posewarper_jax.data import records
from posewarper_jax.data import sparse_labels
from posewarper_jax.data import transforms
from tests.apps.conftest import BATCH_SIZE, IMAGE_SIZE
from tests.models.conftest import with_random_batch_norm

HEATMAP_STRIDE = 4


def _video(labeled_flags, first_id=0) -> records.Video:
  """A video without images or persons whose frame i is labeled when labeled_flags[i]."""
  frames = tuple(records.Frame(path=f"/v/{first_id + i:06d}.jpg", frame_id=first_id + i,
                               image_id=first_id + i, width=1, height=1, is_labeled=bool(flag))
                 for i, flag in enumerate(labeled_flags))
  return records.Video("000001_hand_made", frames)


def _run(length: int) -> records.Video:
  return _video([True] * length)


@pytest.mark.parametrize("length, expected", [
    (4, (3,)),
    (7, (3,)),            # The last frame is 3 past frame 3: covered.
    (8, (3, 7)),          # 4 past: the last-frame rule labels it.
    (21, (3, 10, 17)),    # 20 - 17 = 3: covered.
    (22, (3, 10, 17, 21)),
    (25, (3, 10, 17, 24)),
])
def test_protocol_on_runs(length, expected):
  (positions,) = propagation.labeled_positions([_run(length)])
  assert positions == expected
  assert propagation.labeled_positions([_run(length)], every_k=7) == (expected,)


def test_protocol_uses_the_longest_run():
  # Frames 0-4 labeled, 5 not, 6-25 labeled: the run is positions 6..25.
  video = _video([True] * 5 + [False] + [True] * 20)
  (positions,) = propagation.labeled_positions([video])
  assert positions == (9, 16, 23)
  (sources,) = propagation.frame_sources([video], [positions])
  assert sorted(sources) == list(range(6, 26))
  assert sources[6] == (9, -3) and sources[25] == (23, 2) and sources[16] == (16, 0)
  (boxes,) = propagation.source_boxes([video], [sources])
  assert [f.is_labeled for f in boxes.frames] == [False] * 6 + [True] * 20


@pytest.mark.parametrize("every_k", range(1, propagation.MAX_EVERY_K + 1))
def test_every_frame_of_the_run_takes_a_nearest_labeled_frame(every_k):
  for length in range(4, 31):
    video = _run(length)
    (positions,) = propagation.labeled_positions([video], every_k)
    assert positions[0] == sparse_labels.PROPAGATION_FIRST_INDEX
    assert positions[-1] >= length - 1 - sparse_labels.PROPAGATION_MAX_DELTA
    assert all(b - a <= every_k for a, b in zip(positions, positions[1:]))
    (sources,) = propagation.frame_sources([video], [positions])
    assert sorted(sources) == list(range(length))
    for position, (source, delta) in sources.items():
      assert position - source == delta
      assert abs(delta) == min(abs(position - p) for p in positions)
      assert abs(delta) <= sparse_labels.PROPAGATION_MAX_DELTA


def test_bad_choices_raise():
  with pytest.raises(ValueError, match="every_k=8"):
    propagation.labeled_positions([_run(30)], every_k=8)
  with pytest.raises(ValueError, match="every_k=0"):
    propagation.labeled_positions([_run(30)], every_k=0)
  with pytest.raises(ValueError, match="has 3 frame"):
    propagation.labeled_positions([_run(3)], every_k=2)
  with pytest.raises(ValueError, match="more than 3 frames"):
    propagation.frame_sources([_run(20)], [(3,)])
  with pytest.raises(ValueError, match="2 videos but labeled positions for 1"):
    propagation.frame_sources([_run(20), _run(20)], [(3,)])


def _half_heatmap_pixel(person: records.Person) -> float:
  """Half a heatmap pixel in image pixels: the decoding error bound of an encoded joint."""
  return 0.5 * HEATMAP_STRIDE * person.scale[0] * transforms.PIXEL_STD / IMAGE_SIZE[0]


def test_identity_warper_returns_the_source_ground_truth(videos, labeled, propagated):
  """At initialisation the warper copies A's heatmaps: delta 0 gives the labeled poses back,
  and every other frame the poses of its source."""
  num_deltas = set()
  for video, positions, result in zip(videos, labeled, propagated):
    (sources,) = propagation.frame_sources([video], [positions])
    assert sorted(sources) == list(range(len(video.frames)))
    for position, frame in enumerate(result.frames):
      source, delta = sources[position]
      num_deltas.add(delta)
      truth = video.frames[source].persons
      assert frame.is_labeled and len(frame.persons) == len(truth)
      for predicted, person in zip(frame.persons, truth):
        visible = person.keypoints[:, 2] > 0
        error = np.abs(predicted.keypoints[visible, :2] - person.keypoints[visible, :2])
        assert error.max() <= _half_heatmap_pixel(person) + 1e-3
        np.testing.assert_allclose(predicted.joint_scores[visible], 1.0, atol=1e-5)
        np.testing.assert_array_equal(predicted.joint_scores[~visible], 0.0)
        assert np.all(predicted.keypoints[:, 2] == 1)
        np.testing.assert_array_equal(predicted.box, person.box)
        assert predicted.track_id == person.track_id and predicted.score == 1.0
        assert predicted.head_box is None
  assert num_deltas == set(range(-3, 4))


def test_frames_outside_the_run_stay_empty(videos, tiny_model, config):
  model, variables = tiny_model
  video = videos[0]
  cut = dataclasses.replace(video, frames=(
      dataclasses.replace(video.frames[0], is_labeled=False),) + video.frames[1:])
  labeled = propagation.labeled_positions([cut])
  (result,) = propagation.propagate([cut], labeled, model, variables, config.input,
                                    batch_size=BATCH_SIZE)
  assert labeled == ((4, 11),)  # The run is positions 1..11.
  assert not result.frames[0].is_labeled and not result.frames[0].persons
  (sources,) = propagation.frame_sources([cut], labeled)
  assert all(f.is_labeled and len(f.persons) == len(video.frames[sources[p][0]].persons)
             for p, f in enumerate(result.frames) if p > 0)


def test_folded_batch_norm_propagates_the_same_poses(videos, labeled, tiny_model, config):
  """The default folds every BatchNorm (models/fold.py); with random statistics and offset
  convolutions (non-zero offsets) the poses match the unfolded warper's."""
  model, variables = tiny_model
  variables = with_random_batch_norm(variables, seed=20)
  params = traverse_util.flatten_dict(variables["params"])
  rng = np.random.default_rng(21)
  for path in params:
    if path[0].startswith("offsets_"):
      params[path] = jnp.asarray(rng.normal(0.0, 0.05, params[path].shape), jnp.float32)
  variables["params"] = traverse_util.unflatten_dict(params)
  clip = videos[:1]
  folded, unfolded = (
      propagation.propagate(clip, labeled[:1], model, variables, config.input,
                            batch_size=BATCH_SIZE, fold_batch_norm=fold)[0]
      for fold in (True, False))
  (sources,) = propagation.frame_sources(clip, labeled[:1])
  moved = 0
  for position, (frame_folded, frame_unfolded) in enumerate(zip(folded.frames,
                                                                unfolded.frames)):
    for person_folded, person_unfolded, truth in zip(
        frame_folded.persons, frame_unfolded.persons,
        clip[0].frames[sources[position][0]].persons):
      np.testing.assert_allclose(person_folded.keypoints, person_unfolded.keypoints, atol=1e-3)
      np.testing.assert_allclose(person_folded.joint_scores, person_unfolded.joint_scores,
                                 rtol=1e-4, atol=1e-6)
      moved += np.any(np.abs(person_unfolded.keypoints[:, :2] - truth.keypoints[:, :2])
                      > _half_heatmap_pixel(truth) + 1e-3)
  # The warper moves joints off their source (the identity warper would not): the comparison
  # covers the offset path.
  assert moved > 0


def test_propagation_needs_a_posewarper(tiny_model, videos, labeled, config):
  model, variables = tiny_model
  with pytest.raises(ValueError, match="needs a PoseWarper"):
    propagation.propagate(videos, labeled, model.backbone, variables, config.input)


def test_pseudo_label_baseline_predicts_in_the_source_boxes(videos, labeled, tiny_model, config):
  model, variables = tiny_model
  backbone = {"params": variables["params"]["backbone"],
              "batch_stats": variables["batch_stats"]["backbone"]}
  results = propagation.pseudo_label_baseline(videos, labeled, model.backbone, backbone,
                                              config.input, config.eval)
  for video, positions, result in zip(videos, labeled, results):
    (sources,) = propagation.frame_sources([video], [positions])
    for position, frame in enumerate(result.frames):
      truth = video.frames[sources[position][0]].persons
      assert frame.is_labeled and len(frame.persons) == len(truth)
      for predicted, person in zip(frame.persons, truth):
        np.testing.assert_array_equal(predicted.box, person.box)
        assert np.all(np.isfinite(predicted.keypoints)) and predicted.joint_scores.shape == (17,)
        # Joints decode inside the crop: its width is the box scale's, its height follows the
        # crop's aspect ratio.
        width = person.scale[0] * transforms.PIXEL_STD
        half = 0.5 * width * np.array([1.0, IMAGE_SIZE[1] / IMAGE_SIZE[0]])
        assert np.all(np.abs(predicted.keypoints[:, :2] - person.center) <= half + 1e-3)
