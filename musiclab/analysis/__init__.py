"""analysis workbench core. No Qt."""
