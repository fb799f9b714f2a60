"""The PoseTrack 17-joint layout (../shared/SPEC.md section 2) and its evaluation subset."""

# PoseTrack18 `categories[0].keypoints` order, used everywhere in this package.
JOINT_NAMES = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: index for index, name in enumerate(JOINT_NAMES)}

# Left/right pairs swapped by a horizontal flip; head_bottom/head_top are not a pair.
FLIP_PAIRS = ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def flip_permutation() -> tuple[int, ...]:
  """Joint permutation applied by a horizontal flip: perm[k] is the joint that lands on k."""
  perm = list(range(NUM_JOINTS))
  for left, right in FLIP_PAIRS:
    perm[left], perm[right] = right, left
  return tuple(perm)


FLIP_PERMUTATION = flip_permutation()

# Half-body augmentation split (SPEC 3.3).
UPPER_BODY_IDS = tuple(range(0, 11))
LOWER_BODY_IDS = tuple(range(11, 17))

# The 15 joints scored by the PoseTrack evaluation (SPEC appendix 3): everything but the ears.
EVAL_JOINT_NAMES = tuple(n for n in JOINT_NAMES if not n.endswith("_ear"))

# The evaluation table's groups (SPEC appendix 11); head_bottom is what poseval calls "neck".
EVAL_GROUPS = {
    "Head": ("head_top", "head_bottom", "nose"),
    "Shoulder": ("right_shoulder", "left_shoulder"),
    "Elbow": ("right_elbow", "left_elbow"),
    "Wrist": ("right_wrist", "left_wrist"),
    "Hip": ("right_hip", "left_hip"),
    "Knee": ("right_knee", "left_knee"),
    "Ankle": ("right_ankle", "left_ankle"),
}

# Bones of pose overlays, by name. The `skeleton` listed in the PoseTrack18 files is COCO's, whose
# head bones join eyes and ears; PoseTrack's head is head_top, nose and head_bottom (the neck).
SKELETON_NAMES = (
    ("head_top", "nose"), ("nose", "head_bottom"),
    ("head_bottom", "left_shoulder"), ("head_bottom", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
)
SKELETON = tuple((JOINT_INDEX[a], JOINT_INDEX[b]) for a, b in SKELETON_NAMES)
