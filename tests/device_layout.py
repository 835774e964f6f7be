"""What the browser tests at phone and desktop sizes share: the sizes, a probe of the
page's layout, what breaks a page at a size, and the folder for their screenshots.

Phones are emulated as Playwright does it (`is_mobile`, `has_touch`, a device scale factor
of 3: the page is laid out as a phone lays it out, honouring the viewport meta tag),
desktops are plain windows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

PHONE = {"is_mobile": True, "has_touch": True, "device_scale_factor": 3}
SIZES: dict[str, dict[str, Any]] = {
    "phone-360x740": {"viewport": {"width": 360, "height": 740}, **PHONE},
    "phone-390x844": {"viewport": {"width": 390, "height": 844}, **PHONE},
    "desktop-1280x900": {"viewport": {"width": 1280, "height": 900}},
    "desktop-1920x1080": {"viewport": {"width": 1920, "height": 1080}},
}

# Every drawn element of the page (shadow roots included) with its box, its font size and
# whether it holds text of its own, is a control, or sits in small print. Each box is cut
# to what its ancestors let show (an `overflow` other than visible clips), so that what
# counts is what a reader can see: Bokeh keeps an empty element per glyph, as large as the
# glyph's data, inside the plot frame that clips it.
LAYOUT_JS = """
() => {
  const out = [];
  const walk = (root, small, clipL, clipR) => {
    for (const el of root.children) {
      const style = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      const inSmall = small || el.tagName === 'SMALL';
      const left = Math.max(box.left, clipL), right = Math.min(box.right, clipR);
      if (style.display !== 'none' && style.visibility !== 'hidden' && box.width > 0
          && right > left) {
        const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        out.push({tag: el.tagName, cls: String(el.className || '').slice(0, 60),
          text: text ? el.textContent.trim().slice(0, 40) : '',
          control: ['BUTTON', 'SELECT', 'TEXTAREA', 'INPUT', 'A'].includes(el.tagName),
          small: inSmall, size: parseFloat(style.fontSize),
          left, right, width: box.width, height: box.height});
      }
      const clips = style.overflowX !== 'visible';
      const [l, r] = clips ? [Math.max(clipL, box.left), Math.min(clipR, box.right)]
                           : [clipL, clipR];
      if (el.shadowRoot) walk(el.shadowRoot, inSmall, l, r);
      walk(el, inSmall, l, r);
    }
  };
  walk(document, false, -Infinity, Infinity);
  return {layout: document.documentElement.clientWidth, screen: window.innerWidth,
          scroll: document.documentElement.scrollWidth, elements: out};
}
"""


def wide_or_small(layout: dict[str, Any], phone: bool) -> tuple[list[str], list[str], list[str]]:
    """What breaks the page at this size: elements past the screen's right edge, text under
    16 px on a phone, controls smaller than 44 x 44 px."""
    screen = layout["screen"]
    wide, tiny_text, tiny_controls = [], [], []
    for el in layout["elements"]:
        name = f"{el['tag']}.{el['cls']} {el['text']!r}"
        if el["right"] > screen + 1 or el["left"] < -1:
            wide.append(f"{name} {el['left']:.0f}..{el['right']:.0f}")
        # A field's own text counts too: under 16 px, a phone zooms in when it is tapped.
        if phone and (el["text"] or el["control"]) and not el["small"] and el["size"] < 16:
            tiny_text.append(f"{name} {el['size']}px")
        if el["control"] and (el["width"] < 44 or el["height"] < 44):
            tiny_controls.append(f"{name} {el['width']:.0f}x{el['height']:.0f}")
    return wide, tiny_text, tiny_controls


def screenshot_folder(tmp_path_factory: pytest.TempPathFactory, what: str) -> Path:
    """`ARENA_SCREENSHOT_DIR` when set, else a new temporary folder; printed either way."""
    folder = Path(os.environ.get("ARENA_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\n{what} screenshots: {folder}")
    return folder
