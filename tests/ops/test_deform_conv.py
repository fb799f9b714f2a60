"""Tests of the deformable convolution against a float64 NumPy reference of SPEC 4.4.

Both batch schedules run here, the batched default and the per-image loop
(`deform_conv2d(..., schedule=...)`), in float32 and, with x64 enabled for the test only, in
float64.
"""

import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posewarper_jax.ops import DeformConv, deform_conv, deform_conv2d, identity_kernel_init

SCHEDULES = (deform_conv.PER_IMAGE_SCHEDULE, deform_conv.BATCHED_SCHEDULE)


def reference_deform_conv(x, offset, weight, bias=None, mask=None, stride=(1, 1),
                          padding=(0, 0), dilation=(1, 1), groups=1, offset_groups=1):
  """float64 deformable convolution written straight from the sampling rule of SPEC 4.4."""
  x, offset, weight = (np.asarray(a, np.float64) for a in (x, offset, weight))
  batch, height, width, channels = x.shape
  kh, kw, group_in, out_channels = weight.shape
  taps = kh * kw
  out_h = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
  out_w = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
  group_channels = channels // offset_groups
  rows = (np.arange(out_h) * stride[0] - padding[0])[None, :, None]
  cols = (np.arange(out_w) * stride[1] - padding[1])[None, None, :]
  batch_index = np.arange(batch)[:, None, None]
  columns = np.zeros((batch, out_h, out_w, kh, kw, channels))
  for g in range(offset_groups):
    block = slice(g * group_channels, (g + 1) * group_channels)
    for i in range(kh):
      for j in range(kw):
        k = g * taps + i * kw + j
        p_y = rows + i * dilation[0] + offset[..., 2 * k]
        p_x = cols + j * dilation[1] + offset[..., 2 * k + 1]
        sample = np.zeros((batch, out_h, out_w, group_channels))
        for corner_y in (np.floor(p_y), np.floor(p_y) + 1):
          for corner_x in (np.floor(p_x), np.floor(p_x) + 1):
            hat = (1 - np.abs(p_y - corner_y)) * (1 - np.abs(p_x - corner_x))
            inside = (corner_y >= 0) & (corner_y <= height - 1) & (corner_x >= 0) & (
                corner_x <= width - 1)
            value = x[batch_index, np.clip(corner_y, 0, height - 1).astype(int),
                      np.clip(corner_x, 0, width - 1).astype(int), block]
            sample += np.where(inside, hat, 0.0)[..., None] * value
        sample *= ((p_y > -1) & (p_y < height) & (p_x > -1) & (p_x < width))[..., None]
        if mask is not None:
          sample *= np.asarray(mask, np.float64)[..., k, None]
        columns[:, :, :, i, j, block] = sample
  out = np.zeros((batch, out_h, out_w, out_channels))
  group_out = out_channels // groups
  for q in range(groups):
    out[..., q * group_out:(q + 1) * group_out] = np.einsum(
        "bhwijc,ijco->bhwo", columns[..., q * group_in:(q + 1) * group_in],
        weight[..., q * group_out:(q + 1) * group_out])
  if bias is not None:
    out += np.asarray(bias, np.float64)
  return out


@dataclasses.dataclass(frozen=True)
class Case:
  """One static configuration plus the shapes of its arrays."""
  name: str
  batch: int = 1
  height: int = 7
  width: int = 6
  in_channels: int = 4
  out_channels: int = 3
  kernel: tuple[int, int] = (3, 3)
  stride: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (1, 1)
  dilation: tuple[int, int] = (1, 1)
  groups: int = 1
  offset_groups: int = 1
  use_mask: bool = False
  use_bias: bool = False

  @property
  def out_hw(self):
    return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, k, s, p, d in zip(
        (self.height, self.width), self.kernel, self.stride, self.padding, self.dilation))

  @property
  def kwargs(self):
    return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                groups=self.groups, offset_groups=self.offset_groups)


CASES = [
    Case("plain"),
    Case("stride2_pad0", batch=2, height=8, width=7, stride=(2, 2), padding=(0, 0),
         use_bias=True),
    Case("pad_beyond_radius_mask", padding=(3, 2), use_mask=True),
    Case("groups2_offset_groups2_mask_bias", in_channels=4, out_channels=6, groups=2,
         offset_groups=2, use_mask=True, use_bias=True, stride=(2, 1)),
    Case("posewarper_dilation3", batch=2, height=9, width=8, in_channels=17, out_channels=17,
         padding=(3, 3), dilation=(3, 3), offset_groups=17),
    Case("dilation12", height=14, width=13, padding=(12, 12), dilation=(12, 12), offset_groups=2),
    Case("dilation24", height=30, width=26, in_channels=2, out_channels=2,
         padding=(24, 24), dilation=(24, 24), offset_groups=2),
    Case("kernel1x1", kernel=(1, 1), padding=(0, 0), offset_groups=4, use_mask=True),
    Case("kernel5x5_nonsquare_pairs", kernel=(5, 5), height=9, width=11, padding=(2, 1),
         dilation=(1, 2), stride=(1, 2), use_bias=True),
    Case("kernel3x1", kernel=(3, 1), padding=(1, 0), groups=4, in_channels=4, out_channels=4),
]


def make_inputs(case: Case, seed: int = 0, spread: float = 3.0, dtype=jnp.float32):
  """Random inputs (float32, or float64 under x64); a fifth of the offsets are integers and
  some put samples exactly on -1, 0, H-1 and H (W for x) or just past them."""
  rng = np.random.default_rng(seed)
  out_h, out_w = case.out_hw
  kh, kw = case.kernel
  taps = kh * kw
  x = rng.normal(size=(case.batch, case.height, case.width, case.in_channels))
  weight = rng.normal(size=(kh, kw, case.in_channels // case.groups, case.out_channels))
  offset = rng.uniform(-spread, spread, size=(case.batch, out_h, out_w, case.offset_groups,
                                              taps, 2))
  offset = np.where(rng.random(offset.shape) < 0.2, np.round(offset), offset)
  tap_i, tap_j = np.divmod(np.arange(taps), kw)
  base_y = (np.arange(out_h)[:, None] * case.stride[0] - case.padding[0]
            + tap_i * case.dilation[0])[None, :, None, None, :]
  base_x = (np.arange(out_w)[:, None] * case.stride[1] - case.padding[1]
            + tap_j * case.dilation[1])[None, None, :, None, :]
  border_y = np.array([-1, 0, case.height - 1, case.height, -1.25, case.height - 0.5])
  border_x = np.array([-1, 0, case.width - 1, case.width, case.width + 0.75, -0.5])
  pick = rng.integers(len(border_y), size=offset.shape[:-1])
  on_border = rng.random(offset.shape[:-1]) < 0.25
  offset[..., 0] = np.where(on_border, border_y[pick] - base_y, offset[..., 0])
  offset[..., 1] = np.where(on_border, border_x[pick] - base_x, offset[..., 1])
  offset = offset.reshape(case.batch, out_h, out_w, 2 * case.offset_groups * taps)
  mask = (rng.uniform(0.0, 1.5, size=(case.batch, out_h, out_w, case.offset_groups * taps))
          if case.use_mask else None)
  bias = rng.normal(size=(case.out_channels,)) if case.use_bias else None
  cast = lambda a: None if a is None else jnp.asarray(a, dtype)
  return dict(x=cast(x), offset=cast(offset), weight=cast(weight), bias=cast(bias),
              mask=cast(mask))


def with_schedule(schedule: str):
  """deform_conv2d with the given batch schedule (None: the default)."""
  if schedule is None:
    return deform_conv2d
  return functools.partial(deform_conv2d, schedule=schedule)


@functools.lru_cache(maxsize=None)
def jitted(case: Case, schedule=None):
  """One compiled forward per configuration and schedule."""
  return jax.jit(functools.partial(with_schedule(schedule), **case.kwargs))


def reference(case: Case, inputs):
  return reference_deform_conv(**{k: None if v is None else np.asarray(v, np.float64)
                                  for k, v in inputs.items()}, **case.kwargs)


def assert_close(actual, expected, rtol=1e-5):
  expected = np.asarray(expected, np.float64)
  scale = max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol,
                             atol=rtol * scale)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward_matches_float64_reference(case):
  inputs = make_inputs(case)
  out = jitted(case)(**inputs)
  assert out.shape == (case.batch, *case.out_hw, case.out_channels)
  assert out.dtype == jnp.float32
  assert_close(out, reference(case, inputs))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_batched_schedule_matches_per_image_schedule_and_reference(case):
  """The whole batch at once against one image at a time; the default is the batched one."""
  inputs = make_inputs(case)
  batched = jitted(case, deform_conv.BATCHED_SCHEDULE)(**inputs)
  per_image = jitted(case, deform_conv.PER_IMAGE_SCHEDULE)(**inputs)
  assert batched.dtype == jnp.float32
  assert_close(batched, reference(case, inputs))
  assert_close(batched, per_image, rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(jitted(case)(**inputs)), np.asarray(batched))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_float64_forward_matches_float64_reference(case):
  with jax.enable_x64(True):
    inputs = make_inputs(case, dtype=jnp.float64)
    expected = reference(case, inputs)
    for schedule in SCHEDULES:
      out = jitted(case, schedule)(**inputs)
      assert out.dtype == jnp.float64
      assert_close(out, expected, rtol=1e-12)


def test_reference_samples_every_border_case():
  """The generated offsets do exercise samples exactly on -1 and H (so the tests can fail)."""
  case = CASES[0]
  offset = np.asarray(make_inputs(case)["offset"]).reshape(1, 7, 6, 9, 2)
  base_y = np.arange(7)[:, None] - 1 + np.divmod(np.arange(9), 3)[0]
  p_y = offset[..., 0] + base_y[None, :, None, :]
  assert (p_y == -1).any() and (p_y == case.height).any()


GRADIENT_CASES = [CASES[3], CASES[4], CASES[8]]


def finite_difference_grads(case: Case, inputs, cotangent, channels, eps=1e-6,
                            linear_eps=None):
  """d<cotangent, f>/d(offset, mask) elementwise, d/d(x, weight, bias) along random directions.

  An output pixel depends only on the offsets and mask at that pixel, so shifting one channel
  everywhere at once and reading the change pixel by pixel gives every partial derivative of
  that channel. Offset and mask derivatives are computed for `channels` (name -> indices).
  `eps` is the offsets' step; `linear_eps` (default `eps`) the step of the arguments the output
  is linear in (mask, x, weight, bias).
  """
  linear_eps = eps if linear_eps is None else linear_eps
  base = {k: None if v is None else np.asarray(v, np.float64) for k, v in inputs.items()}
  cotangent = np.asarray(cotangent, np.float64)

  def output(**changes):
    return reference_deform_conv(**{**base, **changes}, **case.kwargs)

  grads = {}
  for name in ("offset", "mask"):
    if base[name] is None:
      continue
    grad = np.zeros_like(base[name])
    name_eps = eps if name == "offset" else linear_eps
    for channel in channels[name]:
      step = np.zeros_like(base[name])
      step[..., channel] = name_eps
      change = output(**{name: base[name] + step}) - output(**{name: base[name] - step})
      grad[..., channel] = np.sum(cotangent * change, axis=-1) / (2 * name_eps)
    grads[name] = grad
  rng = np.random.default_rng(1)
  for name in ("x", "weight", "bias"):
    if base[name] is None:
      continue
    directions = rng.normal(size=(2, *base[name].shape))
    grads[name] = (directions, [
        np.sum(cotangent * (output(**{name: base[name] + linear_eps * d})
                            - output(**{name: base[name] - linear_eps * d}))) / (2 * linear_eps)
        for d in directions])
  return grads


def gradient_inputs(case: Case, dtype=jnp.float32):
  """Inputs whose sample positions stay at least 0.05 from the kinks of bilinear
  interpolation (integer positions), and a random output cotangent."""
  inputs = make_inputs(case, seed=3, spread=2.5, dtype=dtype)
  offset = np.asarray(inputs["offset"], np.float64)
  fraction = offset - np.floor(offset)
  offset = np.floor(offset) + np.clip(fraction, 0.05, 0.95)
  inputs["offset"] = jnp.asarray(offset, dtype)
  cotangent = np.random.default_rng(2).normal(size=(case.batch, *case.out_hw, case.out_channels))
  return inputs, jnp.asarray(cotangent, dtype)


def jax_gradients(case: Case, inputs, cotangent, schedule) -> dict:
  """d<cotangent, deform_conv2d(...)>/d(every array input), with the given batch schedule."""
  names = [name for name, value in inputs.items() if value is not None]
  conv = with_schedule(schedule)

  def loss(*args):
    out = conv(**dict(zip(names, args)), **case.kwargs)
    return jnp.sum(out * cotangent)

  return dict(zip(names, jax.jit(jax.grad(loss, argnums=tuple(range(len(names)))))(
      *[inputs[n] for n in names])))


def assert_gradients_match(jax_grads, expected, channels, rtol, atol):
  for name, grad in jax_grads.items():
    if name in ("offset", "mask"):
      assert_close(grad[..., channels[name]], expected[name][..., channels[name]], rtol=rtol)
    else:
      directions, derivatives = expected[name]
      for direction, derivative in zip(directions, derivatives):
        actual = float(np.sum(np.asarray(grad, np.float64) * direction))
        np.testing.assert_allclose(actual, derivative, rtol=rtol, atol=atol)


def checked_channels(inputs) -> dict:
  """Every channel of small offset fields; 48 of PoseWarper's 306 keeps the tests fast."""
  rng = np.random.default_rng(4)
  return {name: np.sort(rng.permutation(inputs[name].shape[-1])[:48])
          for name in ("offset", "mask") if inputs[name] is not None}


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=lambda c: c.name)
def test_gradients_match_finite_differences(case):
  inputs, cotangent = gradient_inputs(case)
  channels = checked_channels(inputs)
  expected = finite_difference_grads(case, inputs, cotangent, channels)
  grads = {schedule: jax_gradients(case, inputs, cotangent, schedule)
           for schedule in (None,) + SCHEDULES}
  for schedule, schedule_grads in grads.items():
    assert {name: g.shape for name, g in schedule_grads.items()} == {
        name: inputs[name].shape for name in schedule_grads}
    assert_gradients_match(schedule_grads, expected, channels, rtol=2e-4, atol=1e-3)
  # The batched schedule, the default, computes what the per-image one does.
  for name, grad in grads[deform_conv.BATCHED_SCHEDULE].items():
    assert_close(grads[deform_conv.PER_IMAGE_SCHEDULE][name], grad, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(grads[None][name]), np.asarray(grad))


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=lambda c: c.name)
def test_float64_gradients_match_finite_differences(case):
  """In float64 the gradients are exact to rounding. Away from integer positions the output is
  linear in each argument along the directions differenced (dy alone, dx alone, the mask, x,
  the weight, the bias), so central differences have no truncation error: steps of 0.01 for
  the offsets (positions stay 0.05 from integers) and 1 for the rest keep rounding small."""
  with jax.enable_x64(True):
    inputs, cotangent = gradient_inputs(case, dtype=jnp.float64)
    channels = checked_channels(inputs)
    expected = finite_difference_grads(case, inputs, cotangent, channels, eps=1e-2,
                                       linear_eps=1.0)
    for schedule in SCHEDULES:
      grads = jax_gradients(case, inputs, cotangent, schedule)
      assert {g.dtype for g in grads.values()} == {jnp.dtype(jnp.float64)}
      assert_gradients_match(grads, expected, channels, rtol=1e-12, atol=1e-12)


ZERO_OFFSET_CASES = [
    Case("conv_stride2", batch=2, height=9, width=8, stride=(2, 2), padding=(1, 1)),
    Case("conv_dilation2_groups2", in_channels=4, out_channels=6, groups=2, offset_groups=2,
         padding=(2, 3), dilation=(2, 2)),
    Case("conv_5x3_nonsquare", kernel=(5, 3), padding=(0, 2), stride=(1, 2), dilation=(1, 3)),
]


@pytest.mark.parametrize("case", ZERO_OFFSET_CASES, ids=lambda c: c.name)
def test_zero_offsets_reduce_to_convolution(case):
  inputs = make_inputs(case)
  inputs["offset"] = jnp.zeros_like(inputs["offset"])
  out = jitted(case)(**inputs)
  expected = jax.lax.conv_general_dilated(
      inputs["x"], inputs["weight"], case.stride, [(p, p) for p in case.padding],
      rhs_dilation=case.dilation, dimension_numbers=("NHWC", "HWIO", "NHWC"),
      feature_group_count=case.groups, precision=jax.lax.Precision.HIGHEST)
  assert_close(out, expected)


SHIFT_CASE = Case("shift", batch=2, height=6, width=5, in_channels=3, out_channels=3,
                  offset_groups=3)


@pytest.mark.parametrize("shift", [(0, 0), (1, 0), (-2, 3), (4, -5), (6, 0)])
def test_identity_kernel_with_integer_offsets_shifts_the_image(shift):
  case = SHIFT_CASE
  x = jax.random.normal(jax.random.key(0), (case.batch, case.height, case.width, 3))
  weight = identity_kernel_init(None, (3, 3, 3, 3))
  offset = jnp.tile(jnp.asarray(shift, jnp.float32), (case.batch, case.height, case.width, 27))
  out = jitted(case)(x, offset, weight)
  padded = np.pad(np.asarray(x), ((0, 0), (6, 6), (6, 6), (0, 0)))
  dy, dx = shift
  expected = padded[:, 6 + dy:6 + dy + case.height, 6 + dx:6 + dx + case.width]
  np.testing.assert_array_equal(np.asarray(out), expected)


def test_jit_and_vmap_agree_with_per_example_calls():
  case = CASES[3]
  inputs = [make_inputs(case, seed=seed) for seed in (5, 6)]
  stacked = {k: jnp.stack([i[k] for i in inputs]) for k in ("x", "offset", "mask")}
  fn = functools.partial(deform_conv2d, bias=inputs[0]["bias"], **case.kwargs)
  batched = jax.jit(jax.vmap(lambda x, offset, weight, mask: fn(x, offset, weight, mask=mask),
                             in_axes=(0, 0, None, 0)))(
      stacked["x"], stacked["offset"], inputs[0]["weight"], stacked["mask"])
  for index, single in enumerate(inputs):
    expected = jitted(case)(single["x"], single["offset"], inputs[0]["weight"],
                            inputs[0]["bias"], single["mask"])
    assert_close(batched[index], expected)


def test_vmap_of_gradient():
  case = CASES[0]
  inputs = [make_inputs(case, seed=seed) for seed in (7, 8)]
  grad = jax.grad(lambda offset, x, weight: jnp.sum(
      deform_conv2d(x, offset, weight, **case.kwargs) ** 2))
  batched = jax.jit(jax.vmap(grad, in_axes=(0, 0, None)))(
      jnp.stack([i["offset"] for i in inputs]), jnp.stack([i["x"] for i in inputs]),
      inputs[0]["weight"])
  for index, single in enumerate(inputs):
    assert_close(batched[index], grad(single["offset"], single["x"], inputs[0]["weight"]),
                 rtol=1e-4)


def test_bfloat16_runs_and_is_close_to_float32():
  case = CASES[4]
  inputs = make_inputs(case)
  low = {k: v if k == "offset" or v is None else v.astype(jnp.bfloat16)
         for k, v in inputs.items()}
  out = jitted(case)(**low)
  assert out.dtype == jnp.bfloat16
  expected = np.asarray(jitted(case)(**inputs))
  np.testing.assert_allclose(np.asarray(out, np.float32), expected, rtol=0,
                             atol=0.03 * np.abs(expected).max())
  grads = jax.jit(jax.grad(
      lambda x, offset, weight: jnp.sum(deform_conv2d(x, offset, weight, **case.kwargs)
                                        .astype(jnp.float32)), argnums=(0, 1, 2)))(
      low["x"], low["offset"], low["weight"])
  assert [g.dtype for g in grads] == [jnp.bfloat16, jnp.float32, jnp.bfloat16]
  assert all(np.isfinite(np.asarray(g, np.float32)).all() for g in grads)


@pytest.mark.parametrize("schedule", (None,) + SCHEDULES)
def test_gradient_without_input_cotangent_has_no_scatter(schedule):
  """Stage 2 differentiates w.r.t. (offset, weight) only; the input's scatter must vanish."""
  case = CASES[4]
  inputs = make_inputs(case)
  conv = with_schedule(schedule)

  def loss(x, offset, weight):
    return jnp.sum(conv(x, offset, weight, **case.kwargs))

  args = (inputs["x"], inputs["offset"], inputs["weight"])
  partial = jax.jit(jax.grad(loss, argnums=(1, 2))).lower(*args).compile().as_text()
  full = jax.jit(jax.grad(loss, argnums=(0, 1, 2))).lower(*args).compile().as_text()
  assert re.search(r"\bscatter\(", full)
  assert not re.search(r"\bscatter\(", partial)


def _call(x_shape=(1, 6, 5, 4), offset_shape=(1, 6, 5, 18), weight_shape=(3, 3, 4, 2),
          bias_shape=None, mask_shape=None, **kwargs):
  array = lambda shape: None if shape is None else jnp.zeros(shape)
  kwargs.setdefault("padding", 1)
  return deform_conv2d(array(x_shape), array(offset_shape), array(weight_shape),
                       array(bias_shape), array(mask_shape), **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x_shape=(6, 5, 4)), "x must be"),
    (dict(weight_shape=(3, 3, 4)), "weight must be"),
    (dict(weight_shape=(3, 3, 3, 2)), "weight shape"),
    (dict(groups=3), "groups=3"),
    (dict(weight_shape=(3, 3, 2, 3), groups=2), "groups=2"),
    (dict(offset_groups=3), "offset_groups=3"),
    (dict(offset_shape=(1, 6, 5, 20)), "offset must be"),
    (dict(offset_shape=(2, 6, 5, 18)), "offset must be"),
    (dict(offset_shape=(1, 6, 5, 36)), "offset has 36 channels"),
    (dict(offset_shape=(1, 5, 5, 18)), r"H_out, W_out = \(6, 5\)"),
    (dict(mask_shape=(1, 6, 5, 18)), "mask shape"),
    (dict(bias_shape=(3,)), "bias shape"),
    (dict(stride=0), "stride must be positive"),
    (dict(dilation=(1, 0)), "dilation must be positive"),
    (dict(padding=-1), "padding must be non-negative"),
    (dict(stride=(1, 2, 3)), "stride must be an int or an"),
    (dict(padding=0, x_shape=(1, 2, 2, 4), offset_shape=(1, 1, 1, 18)), "empty output"),
    (dict(schedule="gpu"), "schedule must be one of"),
])
def test_bad_arguments_raise(kwargs, message):
  with pytest.raises(ValueError, match=message):
    _call(**kwargs)


def test_module_with_identity_init_returns_its_input():
  layer = DeformConv(features=5, padding=3, kernel_dilation=3, offset_groups=5,
                     kernel_init=identity_kernel_init)
  x = jax.random.normal(jax.random.key(1), (2, 8, 7, 5))
  offset = jnp.zeros((2, 8, 7, 2 * 5 * 9))
  params = layer.init(jax.random.key(0), x, offset)
  assert jax.tree.map(jnp.shape, params) == {"params": {"kernel": (3, 3, 5, 5)}}
  np.testing.assert_array_equal(np.asarray(jax.jit(layer.apply)(params, x, offset)),
                                np.asarray(x))


def test_module_matches_function_with_bias_mask_and_groups():
  case = CASES[3]
  inputs = make_inputs(case)
  layer = DeformConv(features=case.out_channels, kernel_size=case.kernel, strides=case.stride,
                     padding=case.padding, kernel_dilation=case.dilation,
                     feature_group_count=case.groups, offset_groups=case.offset_groups,
                     use_bias=True, bias_init=jax.nn.initializers.normal())
  params = layer.init(jax.random.key(0), inputs["x"], inputs["offset"], inputs["mask"])
  kernel, bias = params["params"]["kernel"], params["params"]["bias"]
  assert kernel.shape == inputs["weight"].shape and bias.shape == (case.out_channels,)
  out = layer.apply(params, inputs["x"], inputs["offset"], inputs["mask"])
  assert_close(out, jitted(case)(inputs["x"], inputs["offset"], kernel, bias, inputs["mask"]))


def test_identity_kernel_init_rejects_non_square_channels():
  with pytest.raises(ValueError, match="identity_kernel_init"):
    identity_kernel_init(None, (3, 3, 4, 5))
  with pytest.raises(ValueError, match="identity_kernel_init"):
    identity_kernel_init(None, (2, 2, 4, 4))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_offsets_far_outside_the_image_sample_zero(schedule):
  """Offsets of any size (beyond the int32 range, and infinite in the forward) read inside the
  image and contribute nothing: the results equal those with the same samples moved just
  outside the image."""
  case = CASES[4]
  inputs = make_inputs(case)
  rng = np.random.default_rng(1)
  offset = np.asarray(inputs["offset"])
  far = rng.random(offset.shape) < 0.3
  far_values = np.array([5e6, -5e6, 3e9, -3e9, 1e30, -1e30, np.inf, -np.inf], np.float32)
  pick = rng.integers(len(far_values), size=offset.shape)
  near_offset = jnp.asarray(np.where(far, np.copysign(50.0, far_values[pick]), offset))
  far_offset = jnp.asarray(np.where(far, far_values[pick], offset))
  expected = reference(case, dict(inputs, offset=near_offset))
  assert_close(jitted(case, schedule)(**dict(inputs, offset=far_offset)), expected)

  def loss(x, offset, weight):
    return jnp.sum(jnp.sin(with_schedule(schedule)(x, offset, weight, **case.kwargs)))

  grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
  finite_offset = jnp.where(jnp.isinf(far_offset), near_offset, far_offset)
  for far_grad, near_grad in zip(grad(inputs["x"], finite_offset, inputs["weight"]),
                                 grad(inputs["x"], near_offset, inputs["weight"])):
    np.testing.assert_array_equal(np.asarray(far_grad), np.asarray(near_grad))


def test_float32_to_int32_is_exact_below_two_to_the_22():
  """The rounding-constant conversion of the sampling loops against numpy's, at the ends of its
  exact range and at random integers in between."""
  edges = np.array([-2**22, -2**22 + 1, -1, 0, 1, 2**22 - 1], np.float32)
  whole = np.concatenate([edges, np.random.default_rng(0).integers(-2**22, 2**22, 10_000)])
  whole = whole.astype(np.float32)
  converted = jax.jit(deform_conv._to_int32)(jnp.asarray(whole))
  assert converted.dtype == jnp.int32
  np.testing.assert_array_equal(np.asarray(converted), whole.astype(np.int32))
