"""What the browser tests and their fixtures share (a plain module: conftest is not imported)."""

# A phone (an iPhone SE-sized viewport with a touch screen) and a laptop.
PHONE = {"name": "phone", "width": 375, "height": 740, "pixel_ratio": 2.0, "touch": True}
DESKTOP = {"name": "desktop", "width": 1280, "height": 900, "pixel_ratio": 1.0, "touch": False}

