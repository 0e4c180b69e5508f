"""Audio input/output, playback and synthesis. No Qt."""
