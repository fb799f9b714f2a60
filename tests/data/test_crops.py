import re

import pytest

from posewarper_jax.data import crops


@pytest.mark.parametrize("size", [(290, 384), (288,), (0, 384), (288.0, 384)])
def test_crop_size_must_be_a_multiple_of_the_heatmap_stride(size):
  crops.check_crop_size((288, 384), 4)
  message = (f"config.image_size={size!r}: expected (width, height), each a positive multiple "
             "of config.heatmap_stride=4")
  with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
    crops.check_crop_size(size, 4)


def test_heatmap_stride_must_be_a_positive_integer():
  with pytest.raises(ValueError, match=r"^config\.heatmap_stride=0: expected a positive integer$"):
    crops.check_crop_size((288, 384), 0)
