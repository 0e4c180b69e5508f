"""The four workbenches. Each is a :class:`~musiclab.gui.tabs.base.WorkbenchTab`."""
