"""composer workbench core. No Qt."""
