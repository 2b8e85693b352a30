"""The pieces of one frame of a live explorer (:class:`dlcourse.widgets.LiveFigure`).

A live explorer draws its static parts once and, at each move of a control, removes
and redraws only the artists of its last frame (:func:`tag_frame`, :func:`clear_frame`).
The frame then travels to the browser as PNG bytes (:func:`figure_png`), or JPEG for a
frame that is mostly a photo (:func:`figure_jpeg`), with the figure's titles and legends
as HTML beside the picture (:func:`titles_html`, :func:`legends_html`), because text is
what matplotlib is slowest to draw. A photo is drawn at the size it has on screen
(:func:`shrink_photo`, :func:`axes_pixels`).

Used in: 01, 02, 04, 09 (through the explorers of :mod:`dlcourse.stack_view`,
:mod:`dlcourse.dilation_view`, :mod:`dlcourse.aspp_view` and :mod:`dlcourse.crf_view`).
"""

from __future__ import annotations

import html
import io
from typing import Any

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from dlcourse.samples import sample_photo
from dlcourse.viz import to_numpy_image


def tag_frame(fig: Figure, *artists: Any) -> None:
    """Remember ``artists`` as part of the current frame of ``fig`` (see :func:`clear_frame`)."""
    if not hasattr(fig, "frame_artists"):
        fig.frame_artists = []
    fig.frame_artists.extend(artists)


def clear_frame(fig: Figure) -> None:
    """Remove every artist the previous frame drew; the static parts (axes, photo) stay."""
    for artist in getattr(fig, "frame_artists", []):
        artist.remove()
    fig.frame_artists = []


def figure_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes at its own size and dpi.

    No tight bounding box: every frame of an explorer has the same pixel size and the
    same layout, so nothing on the page moves, and one draw makes one frame. A low
    compression level keeps the encoding cheap (the bytes travel only to the browser).
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def figure_jpeg(fig: Figure, quality: int = 90) -> bytes:
    """``fig`` as JPEG bytes at its own size and dpi: for frames that are mostly a photo.

    A photo compresses to a quarter of its PNG size or less, so the frame reaches the
    browser sooner; the figure's text travels as HTML (:class:`LiveFigure`), so JPEG's
    blur around sharp edges does not touch any lettering.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    # a figure closed in pyplot has lost its drawing canvas: give it one
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="jpeg", quality=quality)
    return buffer.getvalue()


def shrink_photo(photo: np.ndarray, scale: float) -> np.ndarray:
    """``photo`` resized by ``scale`` (a box filter) when ``scale < 1``, else unchanged.

    A photo drawn at the size it has on screen costs a fraction of resampling the full
    photo at every frame; the figure's coordinates stay in photo pixels (``extent``).
    """
    if scale >= 1:
        return photo
    from PIL import Image

    height, width = photo.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.BOX))


def explorer_photo(image: np.ndarray | None = None) -> np.ndarray:
    """The photo an explorer shows: ``image`` as ``(H, W, 3)`` uint8, or the course's sample photo."""
    if image is None:
        return sample_photo()
    return to_numpy_image(image)


def axes_pixels(ax) -> tuple[float, float]:
    """Width and height of ``ax`` in pixels of its figure."""
    fig = ax.figure
    box = ax.get_position()
    width, height = fig.get_size_inches() * fig.dpi
    return box.width * width, box.height * height


def _pixels(points: float, fig: Figure) -> float:
    """A font size in points as CSS pixels of ``fig`` drawn at its own dpi."""
    return points * fig.dpi / 72


def titles_html(fig: Figure) -> str:
    """The titles of ``fig``'s axes as HTML placed over their axes; hides them in the figure.

    Each title keeps its text, size and horizontal place (centred over its axes), so the
    caption reads as the figure's own titles would, at no drawing cost.
    """
    width = fig.get_size_inches()[0] * fig.dpi
    parts, lines = [], 1
    for ax in fig.axes:
        text = ax.title.get_text()
        if not ax.get_visible() or not text:
            continue
        ax.title.set_visible(False)
        box = ax.get_position()
        size = _pixels(ax.title.get_fontsize(), fig)
        lines = max(lines, text.count("\n") + 1)
        parts.append(f'<div style="position:absolute;left:{box.x0 * width:.0f}px;width:{box.width * width:.0f}px;'
                     f'text-align:center;font-size:{size:.0f}px;line-height:1.25">'
                     f'{html.escape(text).replace(chr(10), "<br>")}</div>')  # fmt: skip
    height = 1.25 * lines * _pixels(10, fig) + 4
    return f'<div style="position:relative;width:{width:.0f}px;height:{height:.0f}px">{"".join(parts)}</div>'


def _swatch(handle: Any) -> str:
    """A small square in the colours of a legend handle (a patch or a marker line)."""
    if hasattr(handle, "get_markerfacecolor"):
        face = edge = to_hex(handle.get_markerfacecolor())
    else:
        edge = to_hex(handle.get_edgecolor())
        face = to_hex(handle.get_facecolor()) if handle.get_fill() else "transparent"
    return (f'<span style="display:inline-block;width:11px;height:11px;margin-right:6px;'
            f'vertical-align:middle;background:{face};border:2px solid {edge}"></span>')  # fmt: skip


def legends_html(fig: Figure) -> str:
    """The legends of ``fig``'s axes as an HTML list of swatches and labels; removes them."""
    rows = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        handles = getattr(legend, "legend_handles", None) or legend.legendHandles
        for handle, text in zip(handles, legend.get_texts(), strict=True):
            label = html.escape(text.get_text()).replace("\n", "<br>")
            rows.append(f'<div style="display:flex;align-items:flex-start;margin-bottom:8px">'
                        f"{_swatch(handle)}<span>{label}</span></div>")  # fmt: skip
        legend.remove()
    size = _pixels(9, fig)
    return f'<div style="font-size:{size:.0f}px;line-height:1.25;padding-top:8px">{"".join(rows)}</div>'
