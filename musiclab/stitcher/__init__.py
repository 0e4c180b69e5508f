"""stitcher workbench core. No Qt."""
