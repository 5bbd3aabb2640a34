"""Contact-sheet drawing on tiny arrays."""

import cv2
import numpy as np
import pytest

from howard.eval import sheet


def cells():
    """One row: a colour image, a float alpha, a uint16 alpha and a heat map, all 10x20."""
    colour = np.zeros((10, 20, 3), np.uint8)
    colour[..., 0] = 200
    alpha = np.tile(np.linspace(0, 1, 20, dtype=np.float32), (10, 1))  # dark left, bright right
    return [colour, alpha, (alpha * 65535).astype(np.uint16), sheet.heat_map(alpha)]


class TestHeatMap:
    def test_dark_to_bright(self):
        err = np.array([[0.0, 0.5, 1.0, 3.0]])
        heat = sheet.heat_map(err)
        assert heat.shape == (1, 4, 3) and heat.dtype == np.uint8
        brightness = heat.astype(int).sum(axis=2)[0]
        assert brightness[0] < 20 and brightness[0] < brightness[1] < brightness[2]
        assert np.array_equal(heat[0, 2], heat[0, 3])  # clipped at vmax

    def test_vmax_scales(self):
        err = np.array([[0.1]])
        assert np.array_equal(sheet.heat_map(err, vmax=0.1), sheet.heat_map(np.array([[1.0]])))
        with pytest.raises(ValueError):
            sheet.heat_map(err, vmax=0)


class TestDrawSheet:
    def test_size_and_layout(self):
        out = sheet.draw_sheet([cells(), cells()], titles=list("abcd"), width=100, gap=4,
                               title_height=10)
        tile_w = (100 - 4 * 5) // 4  # 20 px cells, aspect 1:2 -> 10 px high
        assert out.shape == (10 + 4 + 2 * (10 + 4), 100, 3) and out.dtype == np.uint8
        assert tile_w == 20
        y0, x0 = 10 + 4, 4
        # the first cell is the colour image, the second the float alpha as grey
        assert np.array_equal(out[y0 + 5, x0 + 10], [200, 0, 0])
        grey = out[y0:y0 + 10, x0 + 24:x0 + 44]
        assert np.array_equal(grey[..., 0], grey[..., 1])
        assert grey[5, 0, 0] < 30 and grey[5, -1, 0] > 225
        # paper between the cells
        assert np.all(out[y0:y0 + 10, x0 + 20:x0 + 24] == 255)

    def test_titles_are_drawn(self):
        plain = sheet.draw_sheet([cells()], width=120, title_height=0)
        titled = sheet.draw_sheet([cells()], titles=["frame", "a", "b", "err"], width=120,
                                  title_height=20)
        assert titled.shape[0] == plain.shape[0] + 20
        assert titled[:20].min() < 128  # ink in the title strip

    def test_other_aspects_are_letterboxed(self):
        tall = np.full((40, 10), 1.0, np.float32)
        out = sheet.draw_sheet([[np.zeros((10, 20, 3), np.uint8), tall]], width=52, gap=4,
                               title_height=0)
        cell = out[4:14, 28:48]
        assert np.all(cell[:, 0] == 255) and cell[5, 10, 0] == 255  # paper, then white image
        assert np.all(out[4:14, 4:24] == 0)

    def test_captions(self):
        rows = [[np.zeros((40, 80, 3), np.uint8)]]
        out = sheet.draw_sheet(rows, width=88, title_height=0, captions=["frame 3"])
        assert out[4:44, 4:84].max() > 100  # white text on the black image

    def test_bad_input(self):
        with pytest.raises(ValueError):
            sheet.draw_sheet([])
        with pytest.raises(ValueError):
            sheet.draw_sheet([cells(), cells()[:2]])
        with pytest.raises(ValueError):
            sheet.draw_sheet([cells()], titles=["one"])
        with pytest.raises(ValueError):
            sheet.draw_sheet([cells()], width=3)


class TestSave:
    def test_jpeg_under_a_byte_limit(self, tmp_path):
        rng = np.random.default_rng(0)
        noisy = rng.integers(0, 256, (120, 200, 3)).astype(np.uint8)
        path = sheet.save_sheet(tmp_path / "s.jpg", noisy, max_bytes=30_000)
        assert path.stat().st_size <= 30_000
        assert cv2.imread(str(path)).shape == (120, 200, 3)

    def test_png_is_lossless(self, tmp_path):
        image = sheet.draw_sheet([cells()], width=100)
        path = sheet.save_sheet(tmp_path / "s.png", image)
        back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(back, image)


class TestMatteRow:
    def rgba(self, dtype=np.uint8):
        top = np.iinfo(dtype).max
        rgba = np.zeros((4, 6, 4), dtype)
        rgba[..., 1] = top  # green subject colour
        rgba[:, :3, 3] = top  # opaque on the left, transparent on the right
        return rgba

    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
    def test_cells(self, dtype):
        src = np.full((4, 6, 3), 10, np.uint8)
        bgr = np.full((4, 6, 3), 20, np.uint8)
        back = np.zeros((4, 6, 3), np.uint8)
        back[..., 2] = 255  # blue
        cells = sheet.matte_row(src, bgr, self.rgba(dtype), back)
        assert cells[0] is src and cells[1] is bgr
        assert np.array_equal(cells[2], np.repeat([[1, 1, 1, 0, 0, 0]], 4, axis=0))
        assert np.array_equal(cells[3][:, :3], np.broadcast_to([0, 255, 0], (4, 3, 3)))
        assert np.array_equal(cells[3][:, 3:], np.broadcast_to([0, 0, 255], (4, 3, 3)))

    def test_premultiplied(self):
        rgba = self.rgba()
        rgba[..., 3] = 128
        rgba[..., 1] = 128  # premultiplied full green at half alpha
        back = np.zeros((4, 6, 3), np.uint8)
        straight = sheet.matte_row(back, back, rgba, back, premultiplied=True)[3]
        rgba[..., 1] = 255
        assert np.abs(straight.astype(int) - sheet.matte_row(back, back, rgba, back)[3]).max() <= 1
