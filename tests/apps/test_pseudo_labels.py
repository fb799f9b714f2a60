"""Pseudo-label files: the score threshold, and round trips through the readers and the
trainer's input."""

import dataclasses

import ml_collections
import numpy as np
import pytest

from posewarper_jax.apps import pseudo_labels
from posewarper_jax.data import datasets
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import keypoints
from posewarper_jax.data import posetrack
from posewarper_jax.data import sparse_labels

LOW_SCORE_JOINT = 7


@pytest.fixture(scope="module")
def sparse(videos, labeled):
  return tuple(sparse_labels.keep_labels(v, positions) for v, positions in zip(videos, labeled))


@pytest.fixture(scope="module")
def low_scored(propagated):
  """The propagated videos with joint LOW_SCORE_JOINT of every person scored 0.1."""
  def lower(person):
    scores = person.joint_scores.copy()
    scores[LOW_SCORE_JOINT] = 0.1
    return dataclasses.replace(person, joint_scores=scores)

  return tuple(dataclasses.replace(video, frames=tuple(
      dataclasses.replace(frame, persons=tuple(lower(p) for p in frame.persons))
      for frame in video.frames)) for video in propagated)


@pytest.fixture(scope="module")
def augmented(sparse, low_scored):
  return pseudo_labels.augment_with_propagated(sparse, low_scored)


def test_labeled_frames_are_kept_and_others_take_the_propagated_poses(sparse, low_scored,
                                                                     augmented, labeled):
  for video, positions, propagated, result in zip(sparse, labeled, low_scored, augmented):
    for position, frame in enumerate(result.frames):
      assert frame.is_labeled
      if position in positions:
        assert frame == video.frames[position]
        continue
      assert len(frame.persons) == len(propagated.frames[position].persons)
      for label, person in zip(frame.persons, propagated.frames[position].persons):
        kept = person.joint_scores > pseudo_labels.MIN_SCORE
        assert not kept[LOW_SCORE_JOINT]
        np.testing.assert_array_equal(label.keypoints[~kept], 0.0)
        np.testing.assert_array_equal(label.keypoints[kept, :2], person.keypoints[kept, :2])
        np.testing.assert_array_equal(label.keypoints[kept, 2], 1.0)
        np.testing.assert_array_equal(label.box, person.box)
        assert label.head_box is None and label.joint_scores is None


def test_mismatched_videos_raise(sparse, low_scored):
  with pytest.raises(ValueError, match="does not match sparse video"):
    pseudo_labels.augment_with_propagated(sparse, low_scored[::-1])


def test_files_round_trip_through_the_readers_and_the_trainer(augmented, labeled, config,
                                                             dataset_root, tmp_path):
  out = tmp_path / "pseudo_labels"
  paths = pseudo_labels.write_pseudo_labels(augmented, out, dataset_root)
  assert len(paths) == len(augmented)
  read = posetrack.read_posetrack18(out, dataset_root)
  assert [v.name for v in read] == [v.name for v in augmented]
  for written, back in zip(augmented, read):
    for frame, frame_back in zip(written.frames, back.frames):
      assert frame.path == frame_back.path and frame.is_labeled == frame_back.is_labeled
      assert len(frame.persons) == len(frame_back.persons)
      for person, person_back in zip(frame.persons, frame_back.persons):
        np.testing.assert_allclose(person_back.keypoints, person.keypoints, atol=1e-4)
        np.testing.assert_allclose(person_back.box, person.box, atol=1e-6)
        assert person_back.track_id == person.track_id

  data = ml_collections.ConfigDict(config.data.to_dict())
  data.train_labels_dir = str(out)
  training = datasets.training_videos(data)
  persons = sum(len(f.persons) for v in augmented for f in v.frames)
  assert frame_pairs.num_instances(training) == persons
  instances = frame_pairs.build_instances(training, config.input, seed=0)
  assert len(instances["path_a"]) == persons
  # Pseudo-labeled rows (frames other than the labeled ones) lost the low-scored joint.
  pseudo = np.array([position not in labeled[video] for video, position in
                     zip(instances["video_index"], instances["frame_position"])])
  assert pseudo.any()
  np.testing.assert_array_equal(instances["keypoints"][pseudo, LOW_SCORE_JOINT], 0.0)


def test_propagated_labels_keep_the_predicted_head_bottom(videos, labeled, tiny_model, config,
                                                          propagated):
  """Labels take the decoded channels, not the evaluation files' shoulder-midpoint neck."""
  model, variables = tiny_model
  labels = pseudo_labels.propagated_labels(videos, labeled, model, variables, config.input,
                                           batch_size=config.eval.batch_size)
  head_bottom = keypoints.JOINT_INDEX["head_bottom"]
  shoulders = [keypoints.JOINT_INDEX["left_shoulder"], keypoints.JOINT_INDEX["right_shoulder"]]
  checked = away_from_midpoint = 0
  for result, expected, positions in zip(labels, propagated, labeled):
    for position, (frame, frame_expected) in enumerate(zip(result.frames, expected.frames)):
      if position in positions:
        continue
      for label, person in zip(frame.persons, frame_expected.persons):
        if label.keypoints[head_bottom, 2] > 0:
          np.testing.assert_array_equal(label.keypoints[head_bottom, :2],
                                        person.keypoints[head_bottom, :2])
          midpoint = person.keypoints[shoulders, :2].mean(axis=0)
          away_from_midpoint += not np.allclose(label.keypoints[head_bottom, :2], midpoint)
          checked += 1
  assert checked > 0 and away_from_midpoint > 0
