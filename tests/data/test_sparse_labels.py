import numpy as np
import pytest

from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.data import sparse_labels


def _person(track_id):
  keypoints = np.ones((17, 3), np.float32)
  return records.Person(keypoints=keypoints, box=np.array([0.0, 0.0, 10.0, 20.0]),
                        center=np.array([5.0, 10.0]), scale=np.array([0.1, 0.2]),
                        track_id=track_id)


def make_video(name, num_frames, labeled_ids, first=0):
  """A dense video whose frames with frame_id in labeled_ids carry one person each."""
  frames = tuple(
      records.Frame(path=f"/v/{name}/{i:06d}.jpg", frame_id=i, image_id=i, width=64,
                    height=48, is_labeled=i in labeled_ids,
                    persons=(_person(i),) if i in labeled_ids else ())
      for i in range(first, first + num_frames))
  return records.Video(name, frames)


def test_every_k():
  video = make_video("a", 40, set(range(0, 40, 2)))  # Labeled frames 0, 2, ..., 38.
  selected, = sparse_labels.every_k([video], k=3, start=1)
  assert selected.labeled_positions == (2, 8, 14, 20, 26, 32, 38)
  for position, frame in enumerate(selected.frames):
    assert bool(frame.persons) == (position in selected.labeled_positions)
    if frame.persons:
      assert frame.persons == video.frames[position].persons
  assert sparse_labels.every_k([video], 1)[0].labeled_positions == video.labeled_positions
  with pytest.raises(ValueError, match="k >= 1"):
    sparse_labels.every_k([video], 0)


def test_per_video_reproducible():
  videos = [make_video(f"v{i}", 120, set(range(5, 115))) for i in range(3)]
  first = sparse_labels.per_video(videos, 5, seed=0)
  again = sparse_labels.per_video(videos, 5, seed=0)
  other = sparse_labels.per_video(videos, 5, seed=1)
  choice = [v.labeled_positions for v in first]
  assert choice == [v.labeled_positions for v in again]
  assert choice != [v.labeled_positions for v in other]
  assert len(set(choice)) == 3  # Videos do not share one draw.
  for video, positions in zip(videos, choice):
    assert len(positions) == 5 and set(positions) <= set(video.labeled_positions)
  # A video's choice does not depend on the other videos.
  assert sparse_labels.per_video(videos[1:2], 5, seed=0)[0].labeled_positions == choice[1]
  few = make_video("few", 10, {2, 4})
  assert sparse_labels.per_video([few], 5, seed=0)[0].labeled_positions == (2, 4)


def test_per_video_is_uniform():
  video = make_video("u", 10, set(range(10)))
  counts = np.zeros(10)
  for seed in range(2000):
    counts[list(sparse_labels.per_video([video], 2, seed)[0].labeled_positions)] += 1
  # Each frame is drawn with probability 0.2: 400 expected, std about 18.
  assert np.all(np.abs(counts - 400) < 80), counts


def test_subset_videos():
  videos = [make_video(f"v{i}", 5, {0}) for i in range(10)]
  chosen = sparse_labels.subset_videos(videos, 4, seed=3)
  assert len(chosen) == 4 and len({v.name for v in chosen}) == 4
  assert [v.name for v in chosen] == sorted(v.name for v in chosen)  # Original order.
  names = [v.name for v in chosen]
  assert names == [v.name for v in sparse_labels.subset_videos(videos, 4, seed=3)]
  assert names != [v.name for v in sparse_labels.subset_videos(videos, 4, seed=4)]
  with pytest.raises(ValueError, match="1 <= v <= 10"):
    sparse_labels.subset_videos(videos, 11, seed=0)


@pytest.mark.parametrize("length, expected", [
    (30, (3, 10, 17, 24, 29)),  # 29 - 24 = 5 > 3: the last frame is added.
    (28, (3, 10, 17, 24)),  # 27 - 24 = 3: covered by delta +3.
    (29, (3, 10, 17, 24, 28)),
    (4, (3,)),
])
def test_propagation_protocol(length, expected):
  video = make_video("p", length, set(range(length)))
  assert sparse_labels.propagation_protocol(video) == expected


def test_propagation_protocol_takes_first_longest_run():
  # Runs: 0-4 (5 frames), 10-21 (12), 30-41 (12), 50-51; frames are numbered from 1.
  labeled = set(range(1, 6)) | set(range(11, 23)) | set(range(31, 43)) | {51, 52}
  video = make_video("runs", 60, labeled, first=1)
  assert sparse_labels.longest_labeled_run(video) == tuple(range(10, 22))
  assert sparse_labels.propagation_protocol(video) == (13, 20)  # 21 is within +1 of 20.


def test_propagation_protocol_short_run():
  video = make_video("s", 10, {1, 2, 3, 5, 6})
  with pytest.raises(ValueError, match="video s: the longest run .* has 3 frame"):
    sparse_labels.propagation_protocol(video)


def _reference_sources(run, labeled):
  """For each frame the first labeled frame (in `labeled` order) with the smallest |delta|."""
  sources = {}
  for frame in run:
    best = None
    for source in labeled:
      delta = frame - source
      if abs(delta) <= 3 and (best is None or abs(delta) < abs(best[1])):
        best = (source, delta)
    sources[frame] = best
  return sources


@pytest.mark.parametrize("length", [4, 11, 28, 30, 45])
def test_propagation_sources(length):
  video = make_video("p", length, set(range(length)))
  labeled = sparse_labels.propagation_protocol(video)
  sources = sparse_labels.propagation_sources(video, labeled)
  assert sorted(sources) == list(range(length))
  assert all(abs(delta) <= 3 for _, delta in sources.values())
  assert all(sources[p] == (p, 0) for p in labeled)
  assert sources == _reference_sources(range(length), labeled)


def test_propagation_sources_ties_and_gaps():
  video = make_video("t", 13, set(range(13)))
  sources = sparse_labels.propagation_sources(video, [3, 9])
  assert sources[6] == (3, 3)  # Tie at |delta| 3: the first labeled frame wins.
  assert sparse_labels.propagation_sources(video, [9, 3])[6] == (9, -3)
  assert sources[12] == (9, 3) and sources[0] == (3, -3)
  with pytest.raises(ValueError, match=r"video t: frames at positions \[0\] are more than 3"):
    sparse_labels.propagation_sources(video, [4, 10])
  with pytest.raises(ValueError, match="position 20 is not in the longest labeled run"):
    sparse_labels.propagation_sources(video, [20])


def test_command_line(posetrack18_sample, tmp_path):
  out = tmp_path / "sparse"
  sparse_labels.main(["--annotations", str(posetrack18_sample / "annotations" / "val"),
                      "--images", str(posetrack18_sample), "--out", str(out),
                      "--num-videos", "2", "--every-k", "1", "--seed", "0"])
  written = posetrack.read_posetrack18(out, posetrack18_sample)
  dense = {v.name: v for v in posetrack.read_posetrack18(
      posetrack18_sample / "annotations" / "val", posetrack18_sample)}
  assert len(written) == 2
  for video in written:
    original = dense[video.name]
    assert len(video.frames) == len(original.frames)
    assert video.labeled_positions == original.labeled_positions == (0,)
    np.testing.assert_array_equal(video.frames[0].persons[0].keypoints,
                                  original.frames[0].persons[0].keypoints)
    np.testing.assert_allclose(video.frames[0].persons[-1].box, original.frames[0].persons[-1].box)
