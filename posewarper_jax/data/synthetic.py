"""Procedural sparsely labelable videos in the PoseTrack18 layout, for the demo and tests.

`generate` writes `<root>/images/<split>/<seq>/%06d.jpg` and `<root>/annotations/<split>/<seq>.json`
(official PoseTrack18 JSON, read back by `posetrack.read_posetrack18`). The ground truth is dense:
every frame is labeled; sparsity is applied afterwards with `sparse_labels`.

Each video has several articulated people (17 joints in PoseTrack order, human limb proportions)
drawn as filled limbs, torso and head whose skin and clothes colours are the same on the left and
the right, so colour does not give away joint identity. People walk (and cross each other at
different depths), wave or turn on the spot, over a textured background with camera pan. Hard
cases: motion blur (a line kernel along the horizontal motion, `cv2.filter2D`), defocus (Gaussian
blur), moving occluders, people leaving the frame, and an occasional ignore region around an
unannotated distant person (annotated people may walk through it, as in PoseTrack).

Annotation conventions follow PoseTrack18: ears are always [0, 0, 0]; joints inside the image have
visibility 1 even when hidden by another person or an occluder (PoseTrack annotates occluded
joints); joints outside the image are [0, 0, 0]; a person with no joint inside the image is not
annotated. bbox surrounds the annotated joints plus a margin; bbox_head surrounds the drawn head.

Deterministic: the same arguments give the same bytes (each video draws from its own generator
seeded by (seed, split, video index)).

Command line: python -m posewarper_jax.data.synthetic --out DIR --num-videos N --seed S
"""

import argparse
import dataclasses
import os
from typing import Optional, Sequence

import cv2
import numpy as np

from posewarper_jax.data import file_io
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import posetrack
from posewarper_jax.data import records

SPLITS = ("train", "val")
# Sequence numbers per split; image ids follow PoseTrack18: 10^10 + seq * 10^4 + frame.
_SEQUENCE_OFFSET = {"train": 1, "val": 100_001}
_IMAGE_ID_BASE = 10_000_000_000
_FRAMES_PER_SEQUENCE_ID = 10_000

# Body proportions in units of the person's height, origin at the pelvis, Y up (inferred from
# standard anthropometric tables: legs ~0.49 H, head ~0.13 H).
_THIGH, _SHIN = 0.245, 0.245
_UPPER_ARM, _FOREARM = 0.165, 0.15
_HIP_HALF_WIDTH, _SHOULDER_HALF_WIDTH = 0.085, 0.115
_SHOULDER_HEIGHT, _NECK_HEIGHT = 0.29, 0.335
_HEAD_CENTER_HEIGHT, _HEAD_RADIUS = 0.41, 0.065
# Limb thicknesses, fractions of the height.
_ARM_THICKNESS, _FOREARM_THICKNESS = 0.055, 0.045
_THIGH_THICKNESS, _SHIN_THICKNESS = 0.075, 0.06
_TORSO_THICKNESS, _NECK_THICKNESS, _FOOT_THICKNESS = 0.1, 0.05, 0.045
# The annotated person box surrounds the annotated joints grown by this fraction per side.
BOX_MARGIN = 0.1
# Pixel noise (standard deviation, grey levels) and JPEG quality of the written frames.
_NOISE_STD = 2.5
_JPEG_QUALITY = 90

_J = keypoints_lib.JOINT_INDEX
_LEFT, _RIGHT = 1.0, -1.0  # Body-frame X of the person's left / right side.
_SKIN_TONES = ((172, 205, 241), (134, 180, 224), (99, 145, 198), (66, 105, 160), (45, 70, 110))


@dataclasses.dataclass(frozen=True)
class Actor:
  """One person: appearance and motion (positions in background pixels, time in frames)."""
  track_id: int
  action: str  # "walk", "wave" or "turn"
  x0: float
  velocity: float  # Pixels per frame along x.
  ground_y: float
  height: float
  yaw0: float  # Radians; 0 faces the camera, +pi/2 faces image right.
  yaw_rate: float
  phase0: float
  cycle_rate: float  # Gait or wave cycles per frame.
  wave_side: float
  colours: dict


@dataclasses.dataclass(frozen=True)
class Occluder:
  """A moving textured object drawn in front of the people."""
  x0: float
  velocity: float
  top: float
  width: float
  height: float
  colour: tuple


@dataclasses.dataclass(frozen=True)
class Scene:
  """Everything that `render_frame` needs; backgrounds are wider than the frame for the pan."""
  image_size: tuple[int, int]
  num_frames: int
  background: np.ndarray  # (H, W + pan, 3) uint8 BGR.
  camera_x: np.ndarray  # (T,) left edge of the view in background pixels.
  actors: tuple[Actor, ...]
  occluders: tuple[Occluder, ...]
  distractor: Optional[Actor]  # Unannotated person inside the ignore region.
  ignore_polygon: Optional[np.ndarray]  # (n, 2) background pixels.
  motion_blur: np.ndarray  # (T,) kernel length in pixels, 0 for none.
  defocus: np.ndarray  # (T,) Gaussian sigma in pixels, 0 for none.
  noise_seed: int


# ----------------------------------------------------------------------------- the body model


def _direction(flexion: float, abduction: float, side: float) -> np.ndarray:
  """Body-frame unit vector of a limb hanging down, flexed forward and raised sideways."""
  return np.array([side * np.sin(abduction), -np.cos(abduction) * np.cos(flexion),
                   np.cos(abduction) * np.sin(flexion)])


def _angles(actor: Actor, t: int) -> dict:
  """Joint angles (radians) of `actor` at frame t; arrays are (left, right)."""
  phase = actor.phase0 + 2.0 * np.pi * actor.cycle_rate * t
  swing = np.sin(phase) * np.array([1.0, -1.0])
  if actor.action == "walk":
    hip, knee = 0.42 * swing, 0.1 + 0.35 * (1.0 + np.cos(phase + np.array([0.0, np.pi])))
    shoulder, abduction, elbow = -0.35 * swing, np.full(2, 0.1), np.full(2, 0.35)
    forearm_abduction = np.zeros(2)
  elif actor.action == "wave":
    hip, knee = np.full(2, 0.03), np.full(2, 0.05)
    shoulder, abduction, elbow = np.full(2, 0.05), np.full(2, 0.12), np.full(2, 0.2)
    forearm_abduction = np.zeros(2)
    side = 0 if actor.wave_side == _LEFT else 1
    abduction[side], shoulder[side], elbow[side] = 2.2, 0.2, 0.0
    forearm_abduction[side] = 0.5 + 0.45 * np.sin(phase)
  else:  # "turn": stepping on the spot while turning.
    hip, knee = 0.15 * swing, 0.1 + 0.15 * (1.0 + np.cos(phase + np.array([0.0, np.pi])))
    shoulder, abduction, elbow = -0.15 * swing, np.full(2, 0.1), np.full(2, 0.3)
    forearm_abduction = np.zeros(2)
  return dict(hip=hip, knee=knee, shoulder=shoulder, abduction=abduction, elbow=elbow,
              forearm_abduction=forearm_abduction, yaw=actor.yaw0 + actor.yaw_rate * t)


def _body_joints(angles: dict) -> np.ndarray:
  """(17, 3) body-frame joints (X left, Y up, Z forward) in units of height; ears are zero."""
  joints = np.zeros((keypoints_lib.NUM_JOINTS, 3))
  for i, (side, name) in enumerate(((_LEFT, "left"), (_RIGHT, "right"))):
    hip = np.array([side * _HIP_HALF_WIDTH, 0.0, 0.0])
    knee = hip + _THIGH * _direction(angles["hip"][i], 0.03, side)
    ankle = knee + _SHIN * _direction(angles["hip"][i] - angles["knee"][i], 0.03, side)
    shoulder = np.array([side * _SHOULDER_HALF_WIDTH, _SHOULDER_HEIGHT, 0.0])
    elbow = shoulder + _UPPER_ARM * _direction(angles["shoulder"][i], angles["abduction"][i], side)
    wrist = elbow + _FOREARM * _direction(angles["shoulder"][i] + angles["elbow"][i],
                                          angles["abduction"][i] + angles["forearm_abduction"][i],
                                          side)
    for part, point in (("hip", hip), ("knee", knee), ("ankle", ankle), ("shoulder", shoulder),
                        ("elbow", elbow), ("wrist", wrist)):
      joints[_J[f"{name}_{part}"]] = point
  joints[_J["head_bottom"]] = [0.0, _NECK_HEIGHT, 0.0]
  joints[_J["head_top"]] = [0.0, _HEAD_CENTER_HEIGHT + 1.15 * _HEAD_RADIUS, 0.0]
  joints[_J["nose"]] = [0.0, _HEAD_CENTER_HEIGHT - 0.15 * _HEAD_RADIUS, _HEAD_RADIUS]
  return joints


def _project(points: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
  """Body-frame points (N, 3) -> image offsets (N, 2) (y down) and depth toward the camera (N,)."""
  cos, sin = np.cos(yaw), np.sin(yaw)
  x = points[:, 0] * cos + points[:, 2] * sin
  depth = -points[:, 0] * sin + points[:, 2] * cos
  return np.stack([x, -points[:, 1]], axis=1), depth


@dataclasses.dataclass(frozen=True)
class _Pose:
  """An actor at one frame, in background pixels."""
  joints: np.ndarray  # (17, 2); ears are meaningless (not annotated).
  depth: np.ndarray  # (17,)
  head_center: np.ndarray  # (2,)
  hair_center: np.ndarray  # (2,)
  facing_camera: bool
  height: float


def _pose(actor: Actor, t: int) -> _Pose:
  angles = _angles(actor, t)
  body = _body_joints(angles)
  extras = np.array([[0.0, _HEAD_CENTER_HEIGHT, 0.0],
                     [0.0, _HEAD_CENTER_HEIGHT + 0.2 * _HEAD_RADIUS, -0.3 * _HEAD_RADIUS]])
  offsets, depth = _project(np.concatenate([body, extras]), angles["yaw"])
  # The pelvis sits so that the lower foot touches the ground.
  ankles = body[[_J["left_ankle"], _J["right_ankle"]], 1]
  pelvis = np.array([actor.x0 + actor.velocity * t, actor.ground_y + actor.height * ankles.min()])
  points = pelvis + actor.height * offsets
  return _Pose(joints=points[:-2], depth=depth[:-2], head_center=points[-2],
               hair_center=points[-1], facing_camera=bool(np.cos(angles["yaw"]) > 0),
               height=actor.height)


# ----------------------------------------------------------------------------- drawing

_SHIFT = 4  # Fixed-point bits of cv2 drawing coordinates (1/16 pixel).


def _fixed(points: np.ndarray) -> np.ndarray:
  return np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32)


def _line(image: np.ndarray, a: np.ndarray, b: np.ndarray, thickness: float, colour) -> None:
  """A limb: thick line with round caps."""
  width = max(1, int(round(thickness)))
  cv2.line(image, tuple(_fixed(a)), tuple(_fixed(b)), colour, width, cv2.LINE_AA, _SHIFT)
  for end in (a, b):
    cv2.circle(image, tuple(_fixed(end)), int(round(thickness * (1 << _SHIFT) / 2)), colour, -1,
               cv2.LINE_AA, _SHIFT)


def _draw_person(image: np.ndarray, pose: _Pose, colours: dict, offset: np.ndarray) -> None:
  """Draws limbs far-to-near (painter's order), then the head."""
  p = pose.joints - offset
  h = pose.height
  items = []
  for side in ("left", "right"):
    for a, b, thickness, colour in (
        ("shoulder", "elbow", _ARM_THICKNESS, "shirt"),
        ("elbow", "wrist", _FOREARM_THICKNESS, "sleeve"),
        ("hip", "knee", _THIGH_THICKNESS, "pants"),
        ("knee", "ankle", _SHIN_THICKNESS, "pants")):
      ia, ib = _J[f"{side}_{a}"], _J[f"{side}_{b}"]
      depth = 0.5 * (pose.depth[ia] + pose.depth[ib])
      items.append((depth, lambda ia=ia, ib=ib, t=thickness, c=colour: _line(
          image, p[ia], p[ib], t * h, colours[c])))
    ankle = _J[f"{side}_ankle"]
    toe = p[ankle] + np.array([np.sign(pose.joints[_J["nose"], 0] - pose.head_center[0]) * 0.06 *
                               h, 0.0])
    items.append((pose.depth[ankle], lambda a=ankle, toe=toe: _line(
        image, p[a], toe, _FOOT_THICKNESS * h, colours["shoes"])))

  def torso():
    corners = p[[_J["left_shoulder"], _J["right_shoulder"], _J["right_hip"], _J["left_hip"]]]
    cv2.fillPoly(image, [_fixed(corners)], colours["shirt"], cv2.LINE_AA, _SHIFT)
    neck = 0.5 * (p[_J["left_shoulder"]] + p[_J["right_shoulder"]])
    pelvis = 0.5 * (p[_J["left_hip"]] + p[_J["right_hip"]])
    _line(image, neck, pelvis, _TORSO_THICKNESS * h, colours["shirt"])
    _line(image, p[_J["head_bottom"]], neck, _NECK_THICKNESS * h, colours["skin"])

  items.append((0.0, torso))
  for _, draw in sorted(items, key=lambda item: item[0]):
    draw()
  radius = int(round(_HEAD_RADIUS * h * (1 << _SHIFT)))
  head, hair = tuple(_fixed(pose.head_center - offset)), tuple(_fixed(pose.hair_center - offset))
  layers = [(hair, colours["hair"]), (head, colours["skin"])]
  for centre, colour in (layers if pose.facing_camera else layers[::-1]):
    cv2.circle(image, centre, radius, colour, -1, cv2.LINE_AA, _SHIFT)


def _line_kernel(length: int, angle_degrees: float) -> np.ndarray:
  """(L, L) float32 motion-blur kernel: a normalised line through the centre."""
  kernel = np.zeros((length, length), np.float32)
  kernel[length // 2, :] = 1.0
  rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle_degrees, 1.0)
  kernel = cv2.warpAffine(kernel, rotation, (length, length), flags=cv2.INTER_LINEAR)
  return kernel / kernel.sum()


# ----------------------------------------------------------------------------- scenes


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
  """(height, width, 3) uint8: sky/wall gradient, buildings, ground with tiles, noise texture."""
  horizon = int(height * rng.uniform(0.35, 0.55))
  rows = np.linspace(0.0, 1.0, height)[:, None, None]
  top, bottom = rng.uniform(60, 230, 3), rng.uniform(60, 230, 3)
  image = np.broadcast_to(top * (1 - rows) + bottom * rows, (height, width, 3)).copy()
  ground = rng.uniform(40, 200, 3)
  image[horizon:] = ground
  x = np.arange(width)[None, :]
  y = np.arange(height - horizon)[:, None]
  period = rng.uniform(12, 40)
  tiles = 12.0 * np.sign(np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / (period / 2)))
  image[horizon:] += tiles[..., None]
  for _ in range(int(width / 40)):
    w, h = rng.uniform(20, 80), rng.uniform(0.2, 0.9) * horizon
    x0 = rng.uniform(0, width)
    cv2.rectangle(image, (int(x0), int(horizon - h)), (int(x0 + w), horizon),
                  rng.uniform(30, 220, 3).tolist(), -1)
    window = rng.uniform(30, 255, 3).tolist()
    for wy in np.arange(horizon - h + 6, horizon - 10, 14):
      for wx in np.arange(x0 + 4, x0 + w - 8, 12):
        cv2.rectangle(image, (int(wx), int(wy)), (int(wx + 6), int(wy + 7)), window, -1)
  coarse = rng.normal(0.0, 18.0, (height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
  image += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
  image += rng.normal(0.0, 6.0, image.shape)
  return np.clip(image, 0, 255).astype(np.uint8)


def _colours(rng: np.random.Generator) -> dict:
  skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
  shirt = tuple(int(c) for c in rng.integers(0, 256, 3))
  return dict(skin=skin, shirt=shirt, sleeve=skin if rng.random() < 0.5 else shirt,
              pants=tuple(int(c) for c in rng.integers(0, 200, 3)),
              shoes=tuple(int(c) for c in rng.integers(0, 80, 3)),
              hair=tuple(int(c) for c in rng.integers(0, 90, 3)))


def _actor(rng: np.random.Generator, track_id: int, width: int, height: int, horizon: float,
           view_x: float, num_frames: int, speed: float) -> Actor:
  depth = rng.uniform(0.0, 1.0)  # 0 far, 1 near.
  person_height = height * (0.35 + 0.4 * depth)
  ground_y = horizon + (0.3 + 0.65 * depth) * (height - horizon)
  action = str(rng.choice(["walk", "walk", "wave", "turn"]))
  if action == "walk":
    walking_speed = rng.uniform(0.012, 0.03) * person_height * speed
    direction = rng.choice([-1.0, 1.0])
    # Walkers start anywhere, some near an edge so that they leave the frame.
    x0 = view_x + rng.uniform(-0.1, 1.1) * width
    return Actor(track_id, "walk", x0, direction * walking_speed, ground_y, person_height,
                 direction * np.pi / 2 - direction * rng.uniform(0.0, 0.6), 0.0,
                 rng.uniform(0, 2 * np.pi), walking_speed / (1.4 * person_height), 0.0,
                 _colours(rng))
  x0 = view_x + rng.uniform(0.1, 0.9) * width
  if action == "wave":
    return Actor(track_id, "wave", x0, rng.uniform(-0.3, 0.3) * speed, ground_y, person_height,
                 rng.uniform(-0.5, 0.5), 0.0, rng.uniform(0, 2 * np.pi),
                 rng.uniform(0.04, 0.08) * speed, rng.choice([_LEFT, _RIGHT]), _colours(rng))
  return Actor(track_id, "turn", x0, rng.uniform(-0.5, 0.5) * speed, ground_y, person_height,
               rng.uniform(-np.pi, np.pi),
               rng.choice([-1, 1]) * rng.uniform(2.0, 5.0) / num_frames * speed,
               rng.uniform(0, 2 * np.pi), rng.uniform(0.03, 0.06) * speed, 0.0, _colours(rng))


def _bursts(rng: np.random.Generator, num_frames: int, probability: float, low: float,
            high: float) -> np.ndarray:
  """(T,) zeros except, with `probability`, a burst of frames with a value in [low, high]."""
  values = np.zeros(num_frames)
  if rng.random() < probability:
    length = int(rng.integers(1, max(2, num_frames // 3) + 1))
    start = int(rng.integers(0, num_frames - length + 1))
    values[start:start + length] = rng.uniform(low, high)
  return values


def make_scene(rng: np.random.Generator, num_frames: int, image_size: tuple[int, int],
               max_people: int = 4, speed: float = 1.0) -> Scene:
  """A random scene of 2..max_people actors over `num_frames` frames of (width, height).

  `speed` multiplies every motion per frame (people, limbs, camera pan, occluders), as a lower
  frame rate would; the random draws do not depend on it.
  """
  width, height = image_size
  pan_speed = rng.choice([0.0, rng.uniform(-2.0, 2.0)]) * speed
  pan = int(np.ceil(abs(pan_speed) * num_frames)) + 1
  # Its own generator, so that the draws after it do not depend on the background's width.
  background = _background(np.random.default_rng(rng.integers(2**63)), width + pan, height)
  start = float(pan) if pan_speed < 0 else 0.0
  camera_x = start + pan_speed * np.arange(num_frames)
  horizon = 0.45 * height
  view_x = float(camera_x[0])
  actors = tuple(_actor(rng, i, width, height, horizon, view_x, num_frames, speed)
                 for i in range(int(rng.integers(2, max(2, max_people) + 1))))
  occluders = []
  if rng.random() < 0.5:
    for _ in range(int(rng.integers(1, 3))):
      tall = rng.random() < 0.5
      w = rng.uniform(0.04, 0.1) * width if tall else rng.uniform(0.2, 0.4) * width
      h = rng.uniform(0.6, 1.0) * height if tall else rng.uniform(0.15, 0.3) * height
      occluders.append(Occluder(view_x + rng.uniform(-0.3, 1.0) * width,
                                rng.uniform(-4.0, 4.0) * speed,
                                height - h - rng.uniform(0, 0.1) * height, w, h,
                                tuple(int(c) for c in rng.integers(0, 256, 3))))
  distractor, polygon = None, None
  if rng.random() < 0.3:
    x = view_x + rng.uniform(0.2, 0.8) * width
    distractor = Actor(-1, "wave", x, 0.0, horizon + 0.1 * (height - horizon), 0.25 * height,
                       rng.uniform(-1, 1), 0.0, 0.0, 0.05, _RIGHT, _colours(rng))
    corners = int(rng.integers(5, 9))
    angles = (np.arange(corners) + rng.uniform(-0.3, 0.3, corners)) * 2 * np.pi / corners
    radii = 0.6 * distractor.height * rng.uniform(0.9, 1.2, corners)
    centre = np.array([x, distractor.ground_y - 0.5 * distractor.height])
    polygon = centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  return Scene(image_size=(width, height), num_frames=num_frames, background=background,
               camera_x=camera_x, actors=actors, occluders=tuple(occluders),
               distractor=distractor, ignore_polygon=polygon,
               motion_blur=np.round(_bursts(rng, num_frames, 0.4, 5, 11)).astype(int),
               defocus=_bursts(rng, num_frames, 0.3, 1.2, 2.5),
               noise_seed=int(rng.integers(2**31)))


def video_scene(seed: int, split: str, index: int, num_frames: int,
                image_size: tuple[int, int], max_people: int = 4, speed: float = 1.0) -> Scene:
  """The scene of video `index` of `split` in the set generated with `seed`."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  rng = np.random.default_rng([seed, SPLITS.index(split), index])
  return make_scene(rng, num_frames, image_size, max_people, speed)


def _annotation(pose: _Pose, offset: np.ndarray, scene: Scene,
                track_id: int) -> Optional[records.Person]:
  """The PoseTrack-style label of one drawn person, None if no joint is in the image."""
  width, height = scene.image_size
  xy = np.round(pose.joints - offset, 2)
  inside = (xy[:, 0] >= 0) & (xy[:, 0] <= width - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= height - 1)
  inside[[_J["left_ear"], _J["right_ear"]]] = False
  if not inside.any():
    return None
  keypoints = np.zeros((keypoints_lib.NUM_JOINTS, 3))
  keypoints[inside] = np.concatenate([xy[inside], np.ones((inside.sum(), 1))], axis=1)
  radius = _HEAD_RADIUS * pose.height
  centre = pose.head_center - offset
  top = min(centre[1] - radius, xy[_J["head_top"], 1])
  head_box = np.round([centre[0] - radius, top, 2 * radius, centre[1] + radius - top], 2)
  box = posetrack.box_around_joints(xy[inside], BOX_MARGIN)
  return posetrack.person_from_box(keypoints, box, width, height, head_box=head_box,
                                   track_id=track_id)


def render_frame(scene: Scene, t: int, people: bool = True
                 ) -> tuple[np.ndarray, tuple[records.Person, ...], tuple[np.ndarray, ...]]:
  """Frame t: (image (H, W, 3) uint8 BGR, annotated persons, ignore polygons (n, 2)).

  people=False renders the same frame without the annotated people (a background plate).
  """
  width, height = scene.image_size
  x0 = scene.camera_x[t]
  offset = np.array([x0, 0.0])
  left = int(np.floor(x0))
  shift = np.float32([[1, 0, left - x0], [0, 1, 0]])
  image = cv2.warpAffine(scene.background[:, left:left + width + 1], shift, (width, height),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
  if scene.distractor is not None:
    _draw_person(image, _pose(scene.distractor, t), scene.distractor.colours, offset)
  poses = [(actor, _pose(actor, t)) for actor in scene.actors]
  persons = []
  for actor, pose in sorted(poses, key=lambda item: item[0].ground_y):  # Far people first.
    if people:
      _draw_person(image, pose, actor.colours, offset)
    person = _annotation(pose, offset, scene, actor.track_id)
    if person is not None:
      persons.append(person)
  for occluder in scene.occluders:
    left_x = occluder.x0 + occluder.velocity * t - x0
    corners = np.array([[left_x, occluder.top], [left_x + occluder.width, occluder.top],
                        [left_x + occluder.width, occluder.top + occluder.height],
                        [left_x, occluder.top + occluder.height]])
    cv2.fillPoly(image, [_fixed(corners)], occluder.colour, cv2.LINE_AA, _SHIFT)
    dark = tuple(c // 2 for c in occluder.colour)
    cv2.polylines(image, [_fixed(corners)], True, dark, 2, cv2.LINE_AA, _SHIFT)
  if scene.motion_blur[t]:
    image = cv2.filter2D(image, -1, _line_kernel(int(scene.motion_blur[t]), 0.0))
  if scene.defocus[t]:
    image = cv2.GaussianBlur(image, (0, 0), float(scene.defocus[t]))
  noise = np.random.default_rng([scene.noise_seed, t]).standard_normal(image.shape, np.float32)
  image = cv2.scaleAdd(noise, _NOISE_STD, image.astype(np.float32))
  image = np.clip(image, 0, 255).astype(np.uint8)
  regions = ()
  if scene.ignore_polygon is not None:
    polygon = scene.ignore_polygon - offset
    if (polygon[:, 0] < width).any() and (polygon[:, 0] >= 0).any():
      clipped = np.clip(polygon, 0, [width - 1, height - 1])
      regions = (np.round(clipped, 2),)
  persons.sort(key=lambda person: person.track_id)
  return image, tuple(persons), regions


def generate(root: file_io.Path, num_videos: int = 24, frames_per_video: int = 30,
             image_size: tuple[int, int] = (320, 240), seed: int = 0, split: str = "train",
             max_people: int = 4, speed: float = 1.0) -> tuple[str, ...]:
  """Writes `num_videos` videos of `split` under `root`; returns their annotation paths.

  `speed` multiplies every motion per frame (make_scene).
  """
  if num_videos < 1 or frames_per_video < 1:
    raise ValueError(f"need at least one video and frame, got {num_videos}, {frames_per_video}")
  root = os.fspath(root)
  paths = []
  for index in range(num_videos):
    scene = video_scene(seed, split, index, frames_per_video, image_size, max_people, speed)
    sequence = _SEQUENCE_OFFSET[split] + index
    name = f"{sequence:06d}_synthetic_{split}"
    frames = []
    for t in range(frames_per_video):
      image, persons, regions = render_frame(scene, t)
      path = os.path.join(root, "images", split, name, f"{t:06d}.jpg")
      ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
      if not ok:
        raise ValueError(f"{path}: JPEG encoding failed")
      file_io.write_bytes(path, encoded.tobytes())
      frames.append(records.Frame(
          path=path, frame_id=t,
          image_id=_IMAGE_ID_BASE + sequence * _FRAMES_PER_SEQUENCE_ID + t,
          width=image_size[0], height=image_size[1], is_labeled=True, persons=persons,
          ignore_regions=regions))
    json_path = os.path.join(root, "annotations", split, f"{name}.json")
    posetrack.write_posetrack18_video(records.Video(name, tuple(frames)), json_path,
                                      image_root=root)
    paths.append(json_path)
  return tuple(paths)


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description="Writes synthetic PoseTrack18-style videos.")
  parser.add_argument("--out", required=True, help="dataset root")
  parser.add_argument("--num-videos", type=int, default=24, help="videos per split")
  parser.add_argument("--frames", type=int, default=30, help="frames per video")
  parser.add_argument("--width", type=int, default=320)
  parser.add_argument("--height", type=int, default=240)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--speed", type=float, default=1.0,
                      help="multiplies every motion per frame (a lower frame rate)")
  parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
  args = parser.parse_args(argv)
  for split in args.splits:
    paths = generate(args.out, args.num_videos, args.frames, (args.width, args.height), args.seed,
                     split, speed=args.speed)
    print(f"{split}: wrote {len(paths)} videos to {args.out}")


if __name__ == "__main__":
  main()
