"""The optical-flow propagation baseline of Table 1 (SPEC 7a), with OpenCV's Farneback flow.

The paper propagates with FlowNet2; this baseline uses cv2.calcOpticalFlowFarneback on the
grey full frames. Frames take their source labeled frame as in apps.propagation. From a source
A, the ground-truth joints are carried one frame at a time, A -> A+1 -> ... and A -> A-1 -> ...,
as far as the frames that take A: a joint at p in frame t moves to p + F(p), F the flow from
frame t to the next frame of the chain, bilinearly sampled at p (the nearest border value
outside the image). A labeled frame keeps its own ground truth.

Choices the paper leaves open:
- joint scores: 1 for every joint visible in A, since the flow gives no confidence; joints
  not visible in A stay absent, (0, 0, 0) with score 0;
- the box, centre, scale and track id stay those of the source person, as PoseWarper's
  propagation keeps them (SPEC 7a step 5);
- PoseTrack's neck is written as `neck` says (decode.to_posetrack_joints), the same rule as the
  other methods; with the shoulder midpoint it is present only when both shoulders are.

Command line (writes the predictions and the matching ground truth under OUT, see
apps.scoring, and prints the PoseTrack mAP):
  python -m posewarper_jax.apps.flow_propagation --config configs/synthetic.py \
      --out DIR [--every_k K]
"""

# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import collections
from typing import Optional, Sequence

from absl import app
from absl import flags
import cv2
import ml_collections
import numpy as np

from posewarper_jax.apps import propagation
from posewarper_jax.apps import scoring
from posewarper_jax.data import cli_paths
from posewarper_jax.data import datasets
from posewarper_jax.data import file_io
from posewarper_jax.data import records
from posewarper_jax.eval import posetrack_map
from posewarper_jax.inference import decode
from posewarper_jax.inference import predict

# cv2.calcOpticalFlowFarneback arguments: OpenCV's documented dense-flow example values
# (inferred; the paper's baseline is FlowNet2).
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2,
                 flags=0)


def read_grey(path: str) -> np.ndarray:
  """The image file `path` as (H, W) uint8 grey levels."""
  image = cv2.imdecode(np.frombuffer(file_io.read_bytes(path), np.uint8), cv2.IMREAD_GRAYSCALE)
  if image is None:
    raise ValueError(f"image {path}: OpenCV cannot decode it")
  return image


def farneback_flow(image: np.ndarray, next_image: np.ndarray) -> np.ndarray:
  """(H, W) grey images -> (H, W, 2) float32 flow: pixel (x, y) of `image` moves to
  (x, y) + flow[y, x] in `next_image`."""
  return cv2.calcOpticalFlowFarneback(image, next_image, None, **FARNEBACK)


def carry_points(points: np.ndarray, flow: np.ndarray) -> np.ndarray:
  """points (N, 2) float64 (x, y) -> the points moved by the flow (H, W, 2), sampled bilinearly."""
  xy = np.asarray(points, np.float32).reshape(1, -1, 2)
  moved = cv2.remap(flow, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
  return np.asarray(points, np.float64) + moved.reshape(-1, 2)


def _carried_joints(video: records.Video, sources: propagation.Sources
                    ) -> dict[int, np.ndarray]:
  """{position: (P, 17, 2) joints of its source's P persons carried to that frame}.

  Only frames whose source has persons are computed. Every frame between a source and the
  farthest frame taking it also takes it (the nearest labeled frame), so one chain per source
  and direction serves them all.
  """
  frames = video.frames
  greys = {}

  def grey(position: int) -> np.ndarray:
    if position not in greys:
      greys[position] = read_grey(frames[position].path)
    return greys[position]

  steps = collections.defaultdict(int)  # (source, direction +-1) -> frames to carry.
  carried = {}
  for position, (source, _) in sources.items():
    if frames[source].persons:
      offset = position - source
      key = (source, 1 if offset > 0 else -1)
      steps[key] = max(steps[key], abs(offset))
      if not offset:
        carried[source] = np.array([p.keypoints[:, :2] for p in frames[source].persons],
                                   np.float64)
  for (source, direction), count in steps.items():
    points = carried[source].reshape(-1, 2)
    for step in range(1, count + 1):
      position = source + direction * step
      points = carry_points(points, farneback_flow(grey(position - direction), grey(position)))
      carried[position] = points.reshape(carried[source].shape)
  return carried


def propagate(videos: Sequence[records.Video], labeled: Sequence[Sequence[int]], *,
              neck: str = "shoulder_midpoint") -> tuple[records.Video, ...]:
  """Carries the labeled frames' ground truth along the flow to every frame of the runs.

  videos, labeled: as apps.propagation.propagate. Returns the videos in the same form (frames of
  the runs labeled, with the carried persons; other frames unlabeled and empty), with the
  choices of the module docstring.
  """
  sources = propagation.frame_sources(videos, labeled)
  box_videos = propagation.source_boxes(videos, sources)
  locations = {key: [] for key in predict.BOX_LOCATION}
  coords, visible = [], []
  for video_index, (video, box_video, video_sources) in enumerate(
      zip(videos, box_videos, sources)):
    carried = _carried_joints(video, video_sources)
    for position, frame in enumerate(box_video.frames):
      for person_index, person in enumerate(frame.persons):
        for key, value in zip(predict.BOX_LOCATION, (video_index, position, person_index)):
          locations[key].append(value)
        coords.append(carried[position][person_index])
        visible.append(person.keypoints[:, 2] > 0)
  if not coords:
    raise ValueError("videos: no labeled frame of the runs has a ground-truth person, nothing "
                     "to propagate")
  coords, visible = np.array(coords), np.array(visible, np.float64)
  # A joint is present when every joint it is written from was carried (score 1 x 1 box score).
  coords, scores = decode.to_posetrack_joints(coords, visible, np.ones(len(coords)), neck=neck)
  present = scores >= 1.0
  keypoints = np.where(present[..., None],
                       np.concatenate([coords, np.ones(coords.shape[:2] + (1,))], axis=-1), 0.0)
  return predict.with_predictions(box_videos, {k: np.array(v) for k, v in locations.items()},
                                  keypoints, present.astype(np.float32), np.ones(len(coords)))


def _main(argv: Sequence[str], config: ml_collections.ConfigDict, out: str,
          every_k: Optional[int]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with cli_paths.one_line_errors():
    videos = datasets.load_split(config.data, config.data.split)
    labeled = propagation.labeled_positions(videos, every_k)
  predicted = propagate(videos, labeled, neck=config.eval.neck)
  results = scoring.score(predicted, videos, out, image_root=config.data.root)
  print(posetrack_map.format_results(results))


def main() -> None:
  """The command line; its flags are defined here, so that importing the module defines none."""
  config, out, every_k = propagation.define_flags(
      "split", "Output folder (predictions/, ground_truth/).")
  flags.mark_flags_as_required(["config", "out"])
  app.run(lambda argv: _main(argv, config.value, out.value, every_k.value))


if __name__ == "__main__":
  main()
