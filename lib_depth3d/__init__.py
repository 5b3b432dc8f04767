"""Depth3D engine: depth estimation, camera calibration, camera-matched glTF scenes and depth masks.

Importable without AUTOMATIC1111 and without gradio. Heavy dependencies (torch, pygltflib)
are imported by the modules that need them, never here.
"""

__version__ = "0.1.0"
