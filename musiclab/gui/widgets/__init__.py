"""pyqtgraph/Qt widgets of the workbenches."""
