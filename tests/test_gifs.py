"""GIFs are written atomically and read back by imageio."""

import os

import imageio.v3 as iio
import numpy as np

from muzero_lite.game_metadata import GameMetadata
from muzero_lite.gifs import gif_name, palette_indices, safe_name, write_gif


def test_gif_written_and_read_back(tmp_path):
    frames = [np.full((30, 40, 3), (i * 60, 0, 255 - i * 60), dtype=np.uint8) for i in range(4)]
    path = write_gif(frames, tmp_path / "gifs" / "game.gif", fps=15)
    assert os.listdir(tmp_path / "gifs") == ["game.gif"]
    back = iio.imread(path)
    assert back.shape[:3] == (4, 30, 40)
    assert np.abs(back[..., :3].astype(int) - np.stack(frames)).max() <= 8  # palette rounding


def test_a_gif_of_few_colors_keeps_every_pixel_exactly(tmp_path):
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (40, 3), dtype=np.uint8)
    stack = colors[rng.integers(0, 40, (6, 24, 32))]  # [6, 24, 32, 3] of 40 colors
    stack[5, 23, 31] = (1, 2, 3)  # one pixel of a color of its own
    path = write_gif(list(stack), tmp_path / "game.gif", fps=15)
    np.testing.assert_array_equal(iio.imread(path)[..., :3], stack)


def test_palette_indices_are_exact_and_give_up_past_256_colors():
    stack = np.array([[[[0, 0, 0], [255, 0, 7]], [[255, 0, 7], [0, 0, 9]]]], dtype=np.uint8)
    palette, index = palette_indices(stack)
    # in order of their codes r + 256 g + 65536 b: 0, 459007 and 589824
    np.testing.assert_array_equal(palette, [[0, 0, 0], [255, 0, 7], [0, 0, 9]])
    np.testing.assert_array_equal(index, [[[0, 1], [1, 2]]])
    i = np.arange(257)
    many = np.stack([i % 256, i // 256, np.zeros_like(i)], axis=1).astype(np.uint8)[None, None]
    assert palette_indices(many) is None  # 257 colors
    assert palette_indices(many[:, :, :256]) is not None


def test_palette_indices_find_the_colors_of_later_blocks_that_the_sample_missed():
    stack = np.full((60, 200, 200, 3), 7, dtype=np.uint8)  # 26 frames a block of 2^20 pixels
    stack[30, 7, 9] = (0, 0, 0)  # black (code 0, as the table's empty entries) in the second block
    palette, index = palette_indices(stack)
    np.testing.assert_array_equal(palette, [[7, 7, 7], [0, 0, 0]])
    np.testing.assert_array_equal(palette[index], stack)
    i = np.arange(1, 255)
    more = np.stack([i, np.ones_like(i), np.zeros_like(i)], axis=1).astype(np.uint8)  # 254 more
    stack[35, :2].reshape(-1, 3)[: len(more)] = more  # on two rows of frame 35
    palette, index = palette_indices(stack)
    assert len(palette) == 256
    np.testing.assert_array_equal(palette[index], stack)
    stack[27, 199, 199] = (255, 0, 0)  # a 257th color, in the second block of three
    assert palette_indices(stack) is None
    assert palette_indices(np.zeros((0, 4, 4, 3), dtype=np.uint8))[1].shape == (0, 4, 4)


def test_grayscale_frames_go_to_imageio(tmp_path):
    frames = [np.full((10, 12), 40 * i, dtype=np.uint8) for i in range(3)]
    assert palette_indices(np.stack(frames)) is None
    assert iio.imread(write_gif(frames, tmp_path / "gray.gif", fps=15)).shape[:3] == (3, 10, 12)


def test_a_gif_of_many_colors_is_quantized_by_imageio(tmp_path):
    rng = np.random.default_rng(1)
    frames = list(rng.integers(0, 256, (3, 20, 20, 3), dtype=np.uint8))
    back = iio.imread(write_gif(frames, tmp_path / "game.gif", fps=15))
    assert back.shape[:3] == (3, 20, 20)


def test_gif_names_sort_by_time_and_show_the_score():
    meta = GameMetadata(stage="1-1", x_pos_max=1234.0, return_=567.4)
    assert gif_name("20261121-204512-w00-ab", meta) == "20261121-204512-w00-ab_1-1_x1234_r567.gif"
    cartpole = GameMetadata(return_=-3.6)
    assert gif_name("20261121-204512-w03-cd", cartpole) == "20261121-204512-w03-cd_r-4.gif"


def test_stages_and_ids_become_plain_file_names():
    assert safe_name("ALE/Pong-v5") == "ALE_Pong-v5"
    assert safe_name("SuperMarioBros-1-1-v0") == "SuperMarioBros-1-1-v0"
    assert [safe_name(s) for s in ("", ".", "..", ".lock", "a b\\c")] == [
        "_",
        "_.",
        "_..",
        "_.lock",
        "a_b_c",
    ]


def test_a_stage_with_a_slash_stays_one_file_name():
    meta = GameMetadata(stage="../1/1", x_pos_max=12.0, return_=3.0)
    assert gif_name("20261121-204512-w00-ab", meta) == "20261121-204512-w00-ab__.._1_1_x12_r3.gif"
