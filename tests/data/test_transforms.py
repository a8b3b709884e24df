import numpy as np
import pytest

from edgedet.data import transforms as T
from edgedet.deploy.preprocess import PAD_VALUE


def _image(h=60, w=80, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_hflip_exact():
    img = _image()
    out, boxes = T.hflip(img, np.array([[10, 5, 30, 25]], np.float32))
    np.testing.assert_array_equal(boxes, [[50, 5, 70, 25]])
    np.testing.assert_array_equal(out[:, 0], img[:, 79])
    # the pixels under the box are mirrored into the new box
    np.testing.assert_array_equal(out[5:25, 50:70], img[5:25, 10:30][:, ::-1])
    again, back = T.hflip(out, boxes)
    np.testing.assert_array_equal(again, img)
    np.testing.assert_array_equal(back, [[10, 5, 30, 25]])


def test_expand_offsets_boxes_and_fills():
    img = _image(10, 20)
    canvas, boxes = T.expand_apply(img, np.array([[1, 2, 5, 8]], np.float32), (40, 50), (7, 3), (1, 2, 3))
    assert canvas.shape == (40, 50, 3)
    np.testing.assert_array_equal(boxes, [[8, 5, 12, 11]])
    np.testing.assert_array_equal(canvas[3:13, 7:27], img)
    np.testing.assert_array_equal(canvas[0, 0], [1, 2, 3])
    assert (canvas[13:] == [1, 2, 3]).all()
    with pytest.raises(ValueError, match="does not fit"):
        T.expand_apply(img, boxes, (10, 20), (1, 0))


def test_random_expand_keeps_box_content():
    img = _image(30, 40)
    box = np.array([[4, 6, 20, 18]], np.float32)
    out, b = T.random_expand(img, box, np.random.default_rng(1), max_ratio=4.0)
    assert out.shape[0] >= 30 and out.shape[1] >= 40 and out.shape[0] <= 120
    x1, y1, x2, y2 = b[0].astype(int)
    np.testing.assert_array_equal(out[y1:y2, x1:x2], img[6:18, 4:20])
    np.testing.assert_allclose(b[0, 2:] - b[0, :2], [16, 12])


def test_crop_apply_exact():
    img = _image()
    out, b = T.crop_apply(img, np.array([[20, 10, 40, 30]], np.float32), (15, 5, 55, 45))
    assert out.shape == (40, 40, 3)
    np.testing.assert_array_equal(b, [[5, 5, 25, 25]])
    np.testing.assert_array_equal(out[5:25, 5:25], img[10:30, 20:40])


@pytest.mark.parametrize("seed", range(20))
def test_random_crop_keeps_every_box_whole(seed):
    rng = np.random.default_rng(seed)
    img = _image(120, 160, seed)
    boxes = np.array([[30, 40, 50, 70], [90, 20, 130, 60], [5, 100, 25, 119]], np.float32)
    out, b = T.random_crop(img, boxes, rng, min_scale=0.3)
    h, w = out.shape[:2]
    assert (b[:, :2] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
    np.testing.assert_array_equal(b[:, 2:] - b[:, :2], boxes[:, 2:] - boxes[:, :2])
    for src, dst in zip(boxes.astype(int), b.astype(int)):
        np.testing.assert_array_equal(out[dst[1]:dst[3], dst[0]:dst[2]], img[src[1]:src[3], src[0]:src[2]])


def test_random_crop_without_boxes_zooms_in():
    sizes = [T.random_crop(_image(100, 100), np.zeros((0, 4), np.float32), np.random.default_rng(s))[0].shape[:2]
             for s in range(10)]
    assert all(h <= 100 and w <= 100 for h, w in sizes)
    assert min(h * w for h, w in sizes) < 100 * 100


def test_gridmask_exact_squares():
    img = np.full((8, 8, 3), 200, np.uint8)
    out = T.gridmask_apply(img, d=4, ratio=0.5, offset_xy=(1, 0), fill=(0, 0, 0))
    masked = (out[..., 0] == 0).astype(int)
    expected = np.zeros((8, 8), int)
    for y0 in (0, 4):
        for x0 in (1, 5):
            expected[y0:y0 + 2, x0:x0 + 2] = 1
    np.testing.assert_array_equal(masked, expected)
    assert img[0, 0, 0] == 200  # input untouched


def test_random_gridmask_hides_about_a_quarter_in_black():
    out = T.random_gridmask(np.full((400, 400, 3), 7, np.uint8), np.random.default_rng(0))
    frac = (out[..., 0] != 7).mean()
    assert 0.12 < frac < 0.4  # d in 96-224 px, ratio .5: squares of d/2 every d, about a quarter
    assert (out[out[..., 0] != 7] == 0).all()  # the paper's fill 0
    # d is capped at a 64 px image's side: squares of 32 every 64 px hide 32 rows x 32 columns, exactly 1/4
    out = T.random_gridmask(np.full((64, 64, 3), 7, np.uint8), np.random.default_rng(1))
    assert int((out[..., 0] == 0).sum()) == 32 * 32


def test_cutmix_apply_keeps_both_images_boxes_weighted_by_the_mixing_ratio():
    a, b = np.zeros((100, 100, 3), np.uint8), np.full((100, 100, 3), 255, np.uint8)
    boxes1 = np.array([[0, 0, 20, 20], [45, 45, 65, 65]], np.float32)  # second one is 100% under the region
    boxes2 = np.array([[30, 30, 70, 60], [0, 0, 10, 10], [35, 5, 45, 45]], np.float32)
    out, boxes, labels, weights = T.cutmix_apply(a, boxes1, np.array([1, 2]), b, boxes2, np.array([3, 4, 5]),
                                                 region=(40, 40, 80, 80), lam=0.7)
    assert (out[40:80, 40:80] == 255).all() and (out[:40] == 0).all() and (out[:, :40] == 0).all()
    # every box of both images, unclipped (as the reference); image 1's weigh lam = .7, image 2's 1 - lam = .3
    np.testing.assert_array_equal(boxes, np.concatenate([boxes1, boxes2]))
    np.testing.assert_array_equal(labels, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(weights, np.float32([0.7, 0.7, 0.3, 0.3, 0.3]))


def test_random_cutmix_resizes_second_image():
    rng = np.random.default_rng(0)
    out, boxes, labels, weights = T.random_cutmix(
        _image(50, 60), np.zeros((0, 4), np.float32), np.zeros(0, np.int64), _image(100, 120, 1),
        np.array([[0, 0, 120, 100]], np.float32), np.array([2]), rng)
    assert out.shape == (50, 60, 3)
    # image 2 (120 x 100) is halved to image 1's 60 x 50, its box with it; it weighs 1 - lam, lam being the first
    # Beta(1.5, 1.5) draw of this seed
    np.testing.assert_array_equal(boxes, [[0, 0, 60, 50]])
    assert labels.tolist() == [2]
    np.testing.assert_allclose(weights, [1 - np.random.default_rng(0).beta(1.5, 1.5)], rtol=1e-6)


def test_mosaic_places_four_tiles():
    items = [(np.full((50, 100, 3), k * 50, np.uint8), np.array([[0, 0, 100, 50]], np.float32), np.array([k]))
             for k in range(4)]
    img, boxes, labels = T.mosaic(items, 100, np.random.default_rng(0), fill=(255, 255, 255))
    assert img.shape == (200, 200, 3)
    assert labels.tolist() == [0, 1, 2, 3]
    for (x1, y1, x2, y2), k in zip(boxes.astype(int), labels):
        assert (img[y1:y2, x1:x2] == k * 50).all()
    assert (boxes >= 0).all() and (boxes <= 200).all()


def test_letterbox_with_boxes_maps_through_preprocess():
    img = _image(50, 100)
    canvas, boxes, info = T.letterbox_with_boxes(img, np.array([[10, 10, 50, 30]], np.float32), 64)
    assert canvas.shape == (64, 64, 3)
    assert info.scale == pytest.approx(0.64) and info.pad_y == 16 and info.pad_x == 0
    np.testing.assert_allclose(boxes, [[6.4, 22.4, 32.0, 35.2]], rtol=1e-6)
    assert (canvas[:16] == PAD_VALUE).all()


def test_clip_and_filter_drops_thin_boxes():
    boxes = np.array([[-5, 0, 10, 10], [0, 0, 1.5, 10], [63, 60, 70, 70], [62, 0, 66, 3]], np.float32)  # 3rd: 1 px wide once clipped
    out, labels = T.clip_and_filter(boxes, np.array([0, 1, 2, 3]), 64)
    np.testing.assert_array_equal(out, [[0, 0, 10, 10], [62, 0, 64, 3]])
    np.testing.assert_array_equal(labels, [0, 3])


def test_photometric_keeps_shape_and_changes_pixels():
    img = _image()
    outs = [T.photometric_distort(img, np.random.default_rng(s)) for s in range(6)]
    assert all(o.shape == img.shape and o.dtype == np.uint8 for o in outs)
    assert sum(not np.array_equal(o, img) for o in outs) >= 4
