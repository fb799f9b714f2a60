import pytest

from posewarper_jax.data import path_containment

SOURCE = "ann.json"
WHERE = "images[0].file_name"


def test_relative_paths_are_normalised():
  assert path_containment.relative_path("images/./val/../val/x/000000.jpg", SOURCE,
                                        WHERE) == "images/val/x/000000.jpg"


@pytest.mark.parametrize("name, message", [
    ("../other/images/val/x/000000.jpg", "leaves the dataset root"),
    ("images/../../etc/passwd", "leaves the dataset root"),
    ("/etc/passwd", "is an absolute path"),
    ("gs://other-bucket/x/000000.jpg", "is an absolute path"),
])
def test_escapes_and_absolute_paths(tmp_path, name, message):
  for check in (lambda: path_containment.relative_path(name, SOURCE, WHERE),
                lambda: path_containment.Root(tmp_path).join(name, SOURCE, WHERE),
                lambda: path_containment.Root("gs://bucket/data").join(name, SOURCE, WHERE)):
    with pytest.raises(ValueError, match=message) as error:
      check()
    assert f"{SOURCE}: {WHERE} '{name}'" in str(error.value)


def test_not_a_string():
  with pytest.raises(ValueError, match=r"ann\.json: images\[0\]\.file_name is not a string: 3"):
    path_containment.relative_path(3, SOURCE, WHERE)


def test_url_roots_join_lexically():
  root = path_containment.Root("gs://bucket/data")
  assert root.join("images/x/../y/000001.jpg", SOURCE,
                   WHERE) == "gs://bucket/data/images/y/000001.jpg"


def test_symlinks_out_of_the_root(tmp_path):
  root, outside = tmp_path / "root", tmp_path / "outside"
  (root / "images").mkdir(parents=True)
  outside.mkdir()
  (outside / "000000.jpg").write_bytes(b"x")
  (root / "images" / "linked").symlink_to(outside)  # A folder linked out of the root.
  (root / "images" / "000001.jpg").symlink_to(outside / "000000.jpg")  # A file linked out.
  for name in ("images/linked/000000.jpg", "images/000001.jpg"):
    with pytest.raises(ValueError, match="through a symlink, outside the dataset root") as error:
      path_containment.Root(root).join(name, SOURCE, WHERE)
    assert f"{SOURCE}: {WHERE} '{name}' resolves to {outside / '000000.jpg'}" in str(error.value)


def test_symlinks_inside_the_root_and_a_linked_root(tmp_path):
  real = tmp_path / "real"
  (real / "images" / "a").mkdir(parents=True)
  (real / "images" / "b").symlink_to(real / "images" / "a")
  (tmp_path / "link").symlink_to(real)
  for root in (real, tmp_path / "link"):
    assert path_containment.Root(root).join("images/b/000000.jpg", SOURCE, WHERE) == str(
        root / "images" / "b" / "000000.jpg")
