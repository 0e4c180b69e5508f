"""emotion workbench core. No Qt."""
