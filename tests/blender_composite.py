"""Blender's compositor, set up as the README's Compositing section tells a user, headless.

Run by ``tests/test_interop.py`` as::

    blender -b --factory-startup --python tests/blender_composite.py -- \
        FIRST_FRAME N_FRAMES SCENE_START ALPHA_MODE CONVERT_PREMUL BACKGROUND OUT_DIR

* FIRST_FRAME: the first PNG of the ``rgba/`` sequence (the file a user picks in the Image
  node's file browser); N_FRAMES: frames in the sequence; SCENE_START: the scene's first
  frame (a user sets the frame range to the file numbers, e.g. 1001).
* ALPHA_MODE: the Image's Alpha setting, ``STRAIGHT`` or ``PREMUL``.
* CONVERT_PREMUL: ``1`` ticks Alpha Over's *Convert Premultiplied*, ``0`` leaves it off. The
  README: on for 8-bit PNGs, off for 16-bit (Blender 3.4 premultiplies float images, which
  16-bit PNGs become, on load; 8-bit images reach Alpha Over straight), whatever ALPHA_MODE.
* BACKGROUND: ``#rrggbb`` (Alpha Over's background colour, picked by its hex value) or the
  path of an image (an Image node into Alpha Over's background).
* OUT_DIR: where the rendered frames go, ``OUT_DIR/NNNN.png`` (8-bit RGB, scene frame number).

Colour management as the README says: view transform *Standard* (Blender's default,
*Filmic*, changes every value), no look, exposure 0, gamma 1; dithering off, so the 8-bit
output is not noised. Two frames are rendered: the scene's first two.
"""

import os
import re
import struct
import sys

import bpy


def _linear(c: float) -> float:
    """sRGB-encoded 0-1 -> linear light, as Blender's hex field converts a picked colour."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def main(argv):
    first, n, start, alpha_mode, convert, background, out_dir = argv
    n, start = int(n), int(start)
    number = int(re.findall(r"\d+", os.path.basename(first))[-1])

    scene = bpy.context.scene
    scene.use_nodes = True
    tree = scene.node_tree
    for node in list(tree.nodes):
        tree.nodes.remove(node)

    image = bpy.data.images.load(first)
    image.source = "SEQUENCE"
    image.alpha_mode = alpha_mode
    with open(first, "rb") as f:  # the PNG header's size: a sequence's image.size is not it
        scene.render.resolution_x, scene.render.resolution_y = struct.unpack(">II", f.read(24)[16:])
    scene.render.resolution_percentage = 100
    fg = tree.nodes.new("CompositorNodeImage")
    fg.image = image
    fg.frame_duration = n
    fg.frame_start = start
    fg.frame_offset = number - 1  # Blender reads file number frame - start + 1 + offset

    over = tree.nodes.new("CompositorNodeAlphaOver")
    over.use_premultiply = convert == "1"
    if background.startswith("#"):
        rgb = [_linear(int(background[i:i + 2], 16) / 255) for i in (1, 3, 5)]
        over.inputs[1].default_value = (*rgb, 1.0)
    else:
        bg = tree.nodes.new("CompositorNodeImage")
        bg.image = bpy.data.images.load(background)
        tree.links.new(bg.outputs["Image"], over.inputs[1])
    tree.links.new(fg.outputs["Image"], over.inputs[2])
    comp = tree.nodes.new("CompositorNodeComposite")
    comp.use_alpha = False
    tree.links.new(over.outputs["Image"], comp.inputs["Image"])

    view = scene.view_settings
    view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
    scene.display_settings.display_device = "sRGB"
    scene.sequencer_colorspace_settings.name = "sRGB"
    r = scene.render
    r.dither_intensity = 0.0
    r.use_compositing, r.use_sequencer = True, False
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGB"
    r.image_settings.color_depth = "8"
    for frame in (start, start + 1):
        scene.frame_set(frame)
        r.filepath = os.path.join(out_dir, f"{frame:04d}.png")
        bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:])
