"""Figure helpers: colour-wheel hue follows flow direction, arrows average the field, regions
are painted with their own strength, and the figures draw real pixels."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

from deftmer.eval import figures as F


def uniform_flow(u: float, v: float, size: int = 32) -> np.ndarray:
    return np.stack([np.full((size, size), u, np.float32), np.full((size, size), v, np.float32)])


def hue_deg(rgb: np.ndarray) -> float:
    r, g, b = (rgb.reshape(-1, 3).mean(0) / 255.0).tolist()
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360.0


@pytest.mark.parametrize("u,v,expected_hue", [(1, 0, 0), (0, 1, 90), (-1, 0, 180), (0, -1, 270), (1, 1, 45)])
def test_colour_wheel_hue_is_flow_direction(u, v, expected_hue):
    rgb = F.flow_to_rgb(uniform_flow(u, v))
    diff = abs((hue_deg(rgb) - expected_hue + 180) % 360 - 180)
    assert diff < 2.0


def test_rightward_is_red_and_leftward_is_cyan():
    right = F.flow_to_rgb(uniform_flow(0.7, 0))[0, 0].astype(int)
    left = F.flow_to_rgb(uniform_flow(-0.7, 0))[0, 0].astype(int)
    assert right[0] > 240 and right[1] < 15 and right[2] < 15          # red
    assert left[0] < 15 and left[1] > 240 and left[2] > 240            # cyan


def test_colour_wheel_brightness_is_magnitude_on_a_shared_scale():
    flow = np.zeros((2, 8, 8), np.float32)
    flow[0, :, :4] = 0.5     # half of max
    flow[0, :, 4:] = 1.0
    rgb = F.flow_to_rgb(flow)
    assert rgb[0, 0].max() == pytest.approx(128, abs=2) and rgb[0, 7].max() == 255
    still = F.flow_to_rgb(np.zeros((2, 4, 4)))
    assert still.max() == 0
    shared = F.flow_to_rgb(flow, max_magnitude=2.0)
    assert shared[0, 7].max() == pytest.approx(128, abs=2)
    with pytest.raises(ValueError):
        F.flow_to_rgb(np.zeros((4, 4, 2)))


def test_legend_wheel_right_edge_red_left_edge_cyan_corners_white():
    w = F.color_wheel(65)
    assert tuple(w[0, 0]) == (255, 255, 255)
    assert w[32, 64, 0] > 240 and w[32, 64, 1] < 20
    assert w[32, 0, 0] < 20 and w[32, 0, 2] > 240
    assert w[32, 32].max() < 10          # centre: no motion, black


def test_flow_arrows_average_each_cell():
    flow = np.zeros((2, 32, 48), np.float32)
    flow[0, :16, :16] = 2.0                      # top-left cell moves right
    flow[1, 16:, 32:] = -1.0                     # bottom-right cell moves up
    flow[0, 16:, :16] = np.tile([4.0, -4.0], 128).reshape(16, 16)  # noise that averages to 0
    a = F.flow_arrows(flow, step=16)
    assert a.u.shape == (2, 3)
    np.testing.assert_allclose(a.x[0], [7.5, 23.5, 39.5])
    np.testing.assert_allclose(a.y[:, 0], [7.5, 23.5])
    assert a.u[0, 0] == pytest.approx(2.0) and a.v[1, 2] == pytest.approx(-1.0)
    assert a.u[1, 0] == pytest.approx(0.0)


def test_face_area_mask_is_the_landmark_hull_else_the_region_hull():
    square = np.array([[10, 10], [40, 10], [40, 50], [10, 50], [25, 30]], np.float32)   # inner point ignored
    m = F.face_area_mask((64, 64), square)
    assert m[30, 25] and m[10, 10] and m[50, 40]
    assert not m[5, 5] and not m[30, 45] and not m[55, 25]
    assert abs(int(m.sum()) - 31 * 41) <= 2 * (31 + 41)           # the filled rectangle, give or take its border
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 20:30, 8:16] = True
    masks[1, 20:30, 48:56] = True                                  # two regions: the hull spans the gap
    m = F.face_area_mask((64, 64), None, masks)
    assert m[25, 30] and not m[40, 30]
    assert F.face_area_mask((8, 8), None, None).all()             # nothing known: everything is face


def test_masked_arrows_skip_the_background_and_scale_to_the_face():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flow = np.zeros((2, 64, 64), np.float32)
    flow[0, 16:48, 16:48] = 0.5                                    # face: slow motion to the right
    flow[1, :8, :] = 20.0                                          # border: fast residual motion
    face = np.zeros((64, 64), bool)
    face[16:48, 16:48] = True
    fig, ax = plt.subplots()
    gain = F.draw_flow_arrows(ax, flow, step=16, mask=face)
    q = ax.collections[-1]
    assert len(q.U) == 4                                           # the four cells inside the face
    np.testing.assert_allclose(q.U, 0.5 * gain) and np.testing.assert_allclose(q.V, 0.0)
    assert gain == pytest.approx(0.9 * 16 / 0.5)                   # scaled to the face, not the border
    fig2, ax2 = plt.subplots()
    unmasked_gain = F.draw_flow_arrows(ax2, flow, step=16)
    assert len(ax2.collections[-1].U) == 16 and unmasked_gain < gain
    plt.close(fig)
    plt.close(fig2)


def test_region_strength_map_paints_masks_and_keeps_max_on_overlap():
    masks = np.zeros((3, 10, 10), bool)
    masks[0, :5, :5] = True
    masks[1, 3:8, 3:8] = True
    heat = F.region_strength_map(masks, [0.2, 0.9, 5.0])   # region 2 is empty
    assert heat[0, 0] == pytest.approx(0.2)
    assert heat[4, 4] == pytest.approx(0.9)                # overlap keeps the larger
    assert heat[7, 7] == pytest.approx(0.9)
    assert np.isnan(heat[9, 9])
    with pytest.raises(ValueError):
        F.region_strength_map(masks, [1.0, 2.0])


def test_region_mean_magnitude():
    flow = np.zeros((2, 10, 10), np.float32)
    flow[0, :5] = 3.0
    flow[1, :5] = 4.0                                      # magnitude 5 in the top half
    masks = np.zeros((3, 10, 10), bool)
    masks[0, :5] = True
    masks[1] = True
    np.testing.assert_allclose(F.region_mean_magnitude(flow, masks), [5.0, 2.5, 0.0])


def test_confusion_figure_colours_the_diagonal():
    fig = F.confusion_figure(["a", "b"], [[9, 1], [0, 10]])
    img = F.figure_to_array(fig).astype(int)
    # dark blue (Blues at 0.9-1.0) present; the cell text shows counts
    assert ((img[..., 2] > 90) & (img[..., 0] < 40)).sum() > 500
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"9", "1", "0", "10"} <= texts


def test_bar_and_grouped_bar_figures_draw_bars_with_values():
    fig = F.bar_figure(["s1", "s2", "s3"], [0.2, 0.5, 1.0], "acc", "accuracy", reference=0.6, reference_label="all")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([0.2, 0.5, 1.0])
    fig = F.grouped_bar_figure(["x", "y"], {"p": [0.1, 0.2], "r": [0.3, 0.4], "f": [0.5, 0.6]}, "t")
    assert sorted(p.get_height() for p in fig.axes[0].patches) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert F.figure_to_png(fig)[:4] == b"\x89PNG"


def test_explain_figure_shows_faces_flow_regions_and_prediction():
    rng = np.random.default_rng(0)
    face = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    flow = np.zeros((2, 64, 64), np.float32)
    flow[0, 40:56, 40:56] = 1.5                            # rightward motion at one "lip corner"
    masks = np.zeros((17, 64, 64), bool)
    masks[15, 40:56, 40:56] = True
    masks[0, 5:15, 5:15] = True
    c = F.ExplainContent(onset_face=face, apex_face=face, flow=flow, roi_masks=masks, label="happiness",
                         probs={"happiness": 0.7, "disgust": 0.2, "others": 0.1}, aus=["LAU12"],
                         description="left lip corner pulled outward",
                         region_names=[f"r{i}" for i in range(17)], title="clip")
    fig = F.explain_figure(c)
    assert len(fig.axes) >= 7
    prob_ax = [ax for ax in fig.axes if ax.get_title().startswith("prediction")][0]
    assert [p.get_width() for p in prob_ax.patches] == pytest.approx([0.7, 0.2, 0.1])
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "LAU12" in text and "r15 1.50px" in text and "pulled outward" in text
    img = F.figure_to_array(fig)
    # the colour-wheel panel shows red (rightward) motion
    assert ((img[..., 0] > 200) & (img[..., 1] < 40) & (img[..., 2] < 40)).sum() > 100

    # with a face mask, arrows are drawn only on the face and the panel says so
    face = np.zeros((64, 64), bool)
    face[32:64, 32:64] = True
    from dataclasses import replace
    fig = F.explain_figure(replace(c, face_mask=face))
    arrows_ax = [ax for ax in fig.axes if ax.get_title().startswith("flow arrows")][0]
    assert "on the face" in arrows_ax.get_title()
    q = arrows_ax.collections[-1]
    assert len(q.U) == 16 and (np.asarray(q.get_offsets()) > 31).all()   # the 4 x 4 cells of the mask
