"""Offset plots: offsets and kernel points of a tiny PoseWarper, flow colours, figures, the CLI."""

import cv2
import jax
import numpy as np
import pytest

from posewarper_jax import models
from posewarper_jax.data import keypoints
from posewarper_jax.models import HRNet, PoseWarper, checkpoint, convert
from posewarper_jax.viz import offsets as offsets_viz
from tests.models import official_layout
from tests.models.conftest import TINY_HEAD, TINY_HRNET

CROP_WIDTH, CROP_HEIGHT = 32, 64
GRID = (CROP_HEIGHT // 4, CROP_WIDTH // 4)  # Heatmap (h, w).
WRIST, NOSE = keypoints.JOINT_INDEX["left_wrist"], keypoints.JOINT_INDEX["nose"]
# Hand-set offsets (dy, dx): every tap of the left wrist, only the centre tap of the nose.
WRIST_SHIFT = (1.5, -2.25)
NOSE_SHIFT = (-0.75, 0.5)
PIXEL = (5, 3)


@pytest.fixture(scope="module")
def model() -> PoseWarper:
  """Built as models.load builds it (its dtype hashes differently from jnp.float32), so that the
  CLI test reuses the compiled offsets function."""
  tiny = PoseWarper(backbone=HRNet(**TINY_HRNET), **TINY_HEAD)
  return checkpoint.model_from_config(checkpoint.model_config(tiny))


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
  """Crops A and B, (2, 64, 32, 3)."""
  return np.random.default_rng(0).normal(size=(2, CROP_HEIGHT, CROP_WIDTH, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def initial(model) -> dict:
  """A random backbone with the head at its initialisation: zero offset convs, identity
  deformable convs (SPEC 4.6)."""
  shapes = official_layout.hrnet_shapes(
      TINY_HRNET["width"], stage_modules=TINY_HRNET["stage_modules"],
      num_blocks=TINY_HRNET["num_blocks"], stem=TINY_HRNET["stem_width"],
      layer1_blocks=TINY_HRNET["layer1_blocks"])
  return convert.from_pytorch(official_layout.random_state_dict(shapes, seed=0), model, "hrnet",
                              allow_missing_head=True, head_rng=jax.random.key(0, impl="rbg"))


def with_constant_offsets(variables: dict, dilation_index: int) -> dict:
  """Variables whose offset conv `dilation_index` predicts WRIST_SHIFT at every tap of the left
  wrist and NOSE_SHIFT at the centre tap of the nose, at every pixel.

  The offset trunk is made to output ones (zero convs, bias 1 after the first block's last BN),
  and only the centre of the offset conv's kernel reads them, so no zero padding interferes.
  """
  params = jax.tree.map(np.array, variables["params"])
  for name, block in params.items():
    if name.startswith("offset_feats_"):
      for layer in block.values():
        if "kernel" in layer:
          layer["kernel"][:] = 0
  params["offset_feats_0"]["bn2"]["bias"][:] = 1.0
  kernel = params[f"offsets_{dilation_index}"]["kernel"]  # (3, 3, C, 2 * 17 * 9)
  kernel[:] = 0
  centre = kernel[1, 1, 0]
  for tap in range(offsets_viz.NUM_TAPS):
    channel = 2 * (offsets_viz.NUM_TAPS * WRIST + tap)
    centre[channel:channel + 2] = WRIST_SHIFT
  channel = 2 * (offsets_viz.NUM_TAPS * NOSE + offsets_viz.CENTRE_TAP)
  centre[channel:channel + 2] = NOSE_SHIFT
  return {**variables, "params": params}


def dilated_grid(pixel, dilation) -> np.ndarray:
  """(9, 2) regular positions (y, x) of a 3x3 kernel with that dilation, taps row-major."""
  y, x = pixel
  return np.array([(y + i * dilation, x + j * dilation) for i in (-1, 0, 1) for j in (-1, 0, 1)],
                  np.float32)


def test_untrained_head_has_zero_offsets_and_the_dilated_grid(model, initial, frames):
  prediction = offsets_viz.predict_offsets(model, initial, *frames)
  assert prediction.fields.shape == (len(TINY_HEAD["dilations"]),) + GRID + (17, 9, 2)
  assert prediction.heatmaps_a.shape == GRID + (17,)
  for index, dilation in enumerate(TINY_HEAD["dilations"]):
    field = offsets_viz.offset_field(model, initial, *frames, joint="left_wrist",
                                     dilation_index=index)
    np.testing.assert_array_equal(field, np.zeros(GRID + (2,)))
    points = offsets_viz.sampling_points(model, initial, *frames, joint=WRIST,
                                         dilation_index=index, pixel=PIXEL)
    np.testing.assert_array_equal(points, dilated_grid(PIXEL, dilation))


def test_hand_set_offsets_are_read_by_joint_tap_and_dilation(model, initial, frames):
  variables = with_constant_offsets(initial, dilation_index=1)
  dilation = TINY_HEAD["dilations"][1]
  field = offsets_viz.offset_field(model, variables, *frames, joint="left_wrist",
                                   dilation_index=1)
  np.testing.assert_array_equal(field, np.broadcast_to(WRIST_SHIFT, GRID + (2,)))
  prediction = offsets_viz.predict_offsets(model, variables, *frames)
  np.testing.assert_array_equal(prediction.centre_offsets("nose", 1),
                                np.broadcast_to(NOSE_SHIFT, GRID + (2,)))
  for joint in set(range(17)) - {WRIST, NOSE}:
    assert not prediction.fields[1, :, :, joint].any()
  assert not prediction.fields[0].any()
  grid = dilated_grid(PIXEL, dilation)
  points = offsets_viz.sampling_points(model, variables, *frames, joint="left_wrist",
                                       dilation_index=1, pixel=PIXEL)
  np.testing.assert_array_equal(points, grid + np.array(WRIST_SHIFT, np.float32))
  nose = prediction.sampling_points(NOSE, 1, PIXEL)
  expected = grid.copy()
  expected[offsets_viz.CENTRE_TAP] += NOSE_SHIFT
  np.testing.assert_array_equal(nose, expected)


def test_flow_image_codes_direction_as_hue_and_length_as_value():
  right = np.zeros((4, 5, 2), np.float32)
  right[..., 1] = 2.0
  image = offsets_viz.flow_image(right)
  assert image.shape == (4, 5, 3) and image.dtype == np.uint8
  hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
  assert set(hsv[..., 0].ravel()) == {0} and set(hsv[..., 2].ravel()) == {255}
  down = np.zeros_like(right)
  down[..., 0] = 2.0
  down_hues = set(cv2.cvtColor(offsets_viz.flow_image(down), cv2.COLOR_RGB2HSV)[..., 0].ravel())
  assert len(down_hues) == 1 and down_hues != {0}
  half = cv2.cvtColor(offsets_viz.flow_image(right, max_magnitude=4.0), cv2.COLOR_RGB2HSV)
  assert set(half[..., 2].ravel()) == {128}
  assert not offsets_viz.flow_image(np.zeros((4, 5, 2))).any()
  with pytest.raises(ValueError, match="max_magnitude"):
    offsets_viz.flow_image(right, max_magnitude=0.0)


def test_figure_content_depends_on_the_offsets(model, initial, frames, tmp_path):
  rgb = [np.clip(f * 40 + 128, 0, 255).astype(np.uint8) for f in frames]
  figures = []
  for name, variables in (("zero", initial), ("set", with_constant_offsets(initial, 0))):
    prediction = offsets_viz.predict_offsets(model, variables, *frames)
    path = offsets_viz.write_offset_figure(
        tmp_path / f"{name}.png", *rgb, prediction.centre_offsets(WRIST, 0),
        prediction.sampling_points(WRIST, 0, PIXEL), PIXEL, joint=WRIST,
        dilation=TINY_HEAD["dilations"][0])
    figures.append(cv2.imread(str(path)))
  assert figures[0].shape == (20 + CROP_HEIGHT, 4 * CROP_WIDTH, 3)
  assert (figures[0] != figures[1]).any()
  # Frame A's panel is the same; the flow and kernel panels are not.
  panels = [np.split(figure[20:], 4, axis=1) for figure in figures]
  assert (panels[0][0] == panels[1][0]).all()
  assert (panels[0][2] != panels[1][2]).any() and (panels[0][3] != panels[1][3]).any()
  flow = offsets_viz.draw_offsets(rgb[1], np.zeros(GRID + (2,)))
  with_points = offsets_viz.draw_offsets(rgb[1], np.zeros(GRID + (2,)),
                                         dilated_grid(PIXEL, 1), PIXEL)
  assert (flow != with_points).any()


def test_rejects_bad_arguments(model, initial, frames):
  prediction = offsets_viz.predict_offsets(model, initial, *frames)
  with pytest.raises(ValueError, match="joint 'wrist'"):
    prediction.centre_offsets("wrist", 0)
  with pytest.raises(ValueError, match="dilation_index=2"):
    prediction.centre_offsets(WRIST, 2)
  with pytest.raises(ValueError, match=r"pixel \(16, 0\)"):
    prediction.sampling_points(WRIST, 0, (16, 0))
  with pytest.raises(ValueError, match="PoseWarper"):
    offsets_viz.predict_offsets(model.backbone, initial, *frames)
  with pytest.raises(ValueError, match="heatmap grid"):
    offsets_viz.draw_offsets(np.zeros((64, 32, 3), np.uint8), np.zeros((16, 5, 2)))


def test_cli_writes_the_figure(model, initial, tmp_path):
  checkpoint = models.save(tmp_path / "checkpoint", model, with_constant_offsets(initial, 0))
  rng = np.random.default_rng(1)
  jpegs = []
  for name in ("a", "b"):
    jpegs.append(str(tmp_path / f"{name}.jpg"))
    cv2.imwrite(jpegs[-1], rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
  out = tmp_path / "figure" / "offsets.png"
  flags = ["--checkpoint", str(checkpoint), "--frame_a", jpegs[0], "--frame_b", jpegs[1],
           "--joint", "left_wrist", "--dilation_index", "0", "--image_size", "32,64"]
  offsets_viz.main(flags + ["--box", "30,10,40,60", "--out", str(out)])
  figure = cv2.imread(str(out))
  assert figure.shape == (20 + CROP_HEIGHT, 4 * CROP_WIDTH, 3)
  with pytest.raises(SystemExit, match="no area left"):
    offsets_viz.main(flags + ["--box", "500,500,10,10", "--out", str(out)])
