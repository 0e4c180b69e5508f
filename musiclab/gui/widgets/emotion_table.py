"""The Emotion table: a :class:`QAbstractTableModel` over an
:class:`~musiclab.emotion.session.EmotionSession` and the view that shows it sorted.

Row ``i`` of the model is ``session.results[i]``; ``Qt.UserRole`` of any cell is that index,
:data:`SORT_ROLE` the value a column sorts by. The view sorts through a
:class:`QSortFilterProxyModel`, so the tab keeps no row <-> result bookkeeping of its own.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QStyle, QTableView

from ...emotion.session import QUADS, EmotionSession
from .emotion_plane import QUADRANT_COLOURS

COLUMNS = ["File", "Quadrant", "Mood", "Valence", "Arousal", "Uncertainty", "P(Q1)", "P(Q2)", "P(Q3)", "P(Q4)",
           "Length", "Notes"]
COLUMN_TIPS = [
    "File name (hover for the full path; a warning sign marks a file with a warning). "
    "Double-click or Enter plays it; Delete removes the selected rows. Right-click a header to show or hide columns.",
    "Most likely quadrant of Russell's valence/arousal plane",
    "Mood words of that quadrant",
    "Valence: negative (\u22121) \u2026 positive (+1)",
    "Arousal: low energy (\u22121) \u2026 high energy (+1)",
    "0 = the model is sure, 1 = no idea (normalised entropy of the four quadrant probabilities)",
    "Probability of Q1 happy / excited", "Probability of Q2 angry / tense",
    "Probability of Q3 sad / depressed", "Probability of Q4 calm / relaxed",
    "Duration (minutes:seconds)",
    "Warnings about the file (silence, very short audio)",
]
NOTES_COL = 11
SORT_ROLE = Qt.UserRole + 1
_NUMERIC = {3, 4, 5, 6, 7, 8, 9, 10}


def _mmss(seconds: float) -> str:
    s = int(round(float(seconds)))
    return f"{s // 60}:{s % 60:02d}"


def _value(r: dict, col: int):
    """The value of a cell (what it sorts by)."""
    if col == 0:
        return r["name"]
    if col == 1:
        return r["quadrant"]
    if col == 2:
        return r["mood"]
    if col == 3:
        return float(r["valence"])
    if col == 4:
        return float(r["arousal"])
    if col == 5:
        return float(r["uncertainty"])
    if 6 <= col <= 9:
        return float(r["probs"][QUADS[col - 6]])
    if col == 10:
        return float(r["duration"])
    return "; ".join(r.get("warnings", []))


def _text(r: dict, col: int) -> str:
    v = _value(r, col)
    if col in (3, 4):
        return f"{v:+.2f}"
    if col in (5, 6, 7, 8, 9):
        return f"{v:.2f}"
    if col == 10:
        return _mmss(v)
    return str(v)


class EmotionTableModel(QAbstractTableModel):
    """The session's predictions as rows; changes go through :meth:`append` and :meth:`remove_rows`."""

    def __init__(self, session: EmotionSession, parent=None):
        super().__init__(parent)
        self.session = session
        self._warn_icon = None

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt naming)
        return 0 if parent.isValid() else len(self.session.results)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ToolTipRole:
                return COLUMN_TIPS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self.session.results)):
            return None
        r, col = self.session.results[index.row()], index.column()
        if role == Qt.DisplayRole:
            return _text(r, col)
        if role == Qt.UserRole:
            return index.row()
        if role == SORT_ROLE:
            return _value(r, col)
        if role == Qt.TextAlignmentRole and col in _NUMERIC:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole and col == 1:
            return QBrush(QColor(QUADRANT_COLOURS[r["quadrant"]]))
        if role == Qt.ToolTipRole:
            if col == 0:
                return r["file"] + ("\n\u26a0 " + "; ".join(r["warnings"]) if r.get("warnings") else "")
            if col == NOTES_COL:
                return _text(r, col)
        if role == Qt.DecorationRole and col == 0 and r.get("warnings"):
            if self._warn_icon is None:
                from PySide6.QtWidgets import QApplication

                self._warn_icon = QApplication.style().standardIcon(QStyle.SP_MessageBoxWarning)
            return self._warn_icon
        return None

    # -- changes --------------------------------------------------------------------------
    def append(self, result: dict) -> int:
        n = len(self.session.results)
        self.beginInsertRows(QModelIndex(), n, n)
        self.session.add(result)
        self.endInsertRows()
        return n

    def remove_rows(self, rows) -> int:
        """Remove the given model rows (indices into ``session.results``)."""
        rows = sorted({int(r) for r in rows if 0 <= int(r) < len(self.session.results)}, reverse=True)
        k = 0
        while k < len(rows):  # contiguous runs, from the end
            hi = lo = rows[k]
            while k + 1 < len(rows) and rows[k + 1] == lo - 1:
                k += 1
                lo = rows[k]
            self.beginRemoveRows(QModelIndex(), lo, hi)
            self.session.remove(range(lo, hi + 1))
            self.endRemoveRows()
            k += 1
        return len(rows)

    def clear(self) -> None:
        self.beginResetModel()
        self.session.clear()
        self.endResetModel()


class EmotionTableView(QTableView):
    """Sorted view of an :class:`EmotionTableModel`: fitted columns, a header menu to show or
    hide columns; ``source_row(proxy_row)`` / ``proxy_row(source_row)`` translate."""

    def __init__(self, model: EmotionTableModel, parent=None):
        super().__init__(parent)
        self.source = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setDynamicSortFilter(True)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.AscendingOrder)  # arrival order until the user clicks a header
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.ElideMiddle)
        self.setAlternatingRowColors(True)
        self._size_columns()
        self.setColumnHidden(NOTES_COL, True)  # warnings: an icon before the name + its tooltip
        hh = self.horizontalHeader()
        hh.setContextMenuPolicy(Qt.CustomContextMenu)
        hh.customContextMenuRequested.connect(self._column_menu)
        self.setToolTip("Click a column header to sort. Select a row to see it on the plane and timeline; "
                        "double-click or Enter plays it, Delete removes the selected rows, Ctrl+A selects all.")

    def source_row(self, proxy_row: int) -> int:
        return self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()

    def proxy_row(self, source_row: int) -> int:
        return self.proxy.mapFromSource(self.source.index(source_row, 0)).row()

    def selected_rows(self) -> list[int]:
        """Source rows (indices into the session's results) of the selection, in view order."""
        rows = sorted(i.row() for i in self.selectionModel().selectedRows())
        return [self.source_row(r) for r in rows]

    def view_order(self) -> list[int]:
        """Source rows in the order the view shows them."""
        return [self.source_row(r) for r in range(self.proxy.rowCount())]

    def select_source_row(self, row: int) -> None:
        pr = self.proxy_row(row)
        if pr >= 0:
            self.selectRow(pr)
            self.scrollTo(self.proxy.index(pr, 0))

    def current_source_row(self) -> Optional[int]:
        """The row the selection is about: the current row if selected, else the first selected."""
        rows = self.selectionModel().selectedRows()
        if not rows:
            return None
        cur = self.currentIndex().row()
        pr = cur if cur >= 0 and self.selectionModel().isRowSelected(cur, QModelIndex()) else rows[0].row()
        return self.source_row(pr)

    def _size_columns(self) -> None:
        """File stretches; every other column is as wide as its header or its widest value."""
        fm = self.fontMetrics()
        hh = self.horizontalHeader()
        hfm = hh.fontMetrics()
        samples = {1: "Q4", 2: "happy / excited", 3: "+0.00", 4: "+0.00", 5: "0.00", 6: "0.00", 7: "0.00",
                   8: "0.00", 9: "0.00", 10: "00:00", 11: "nearly silent"}
        hh.setMinimumSectionSize(24)
        for j, sample in samples.items():
            w = max(hfm.horizontalAdvance(COLUMNS[j]) + 12, fm.horizontalAdvance(sample) + 12)
            hh.setSectionResizeMode(j, QHeaderView.Interactive)
            hh.resizeSection(j, w)
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        hh.setStretchLastSection(False)

    def _column_menu(self, pos) -> None:
        """Right-click on the header: show or hide columns (the file name always stays)."""
        menu = QMenu(self)
        for j in range(1, len(COLUMNS)):
            act = menu.addAction(COLUMNS[j])
            act.setCheckable(True)
            act.setChecked(not self.isColumnHidden(j))
            act.toggled.connect(lambda on, j=j: self.setColumnHidden(j, not on))
        menu.exec(self.horizontalHeader().mapToGlobal(pos))
