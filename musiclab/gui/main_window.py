"""The main window: four workbench tabs, menus, transport, status bar, drag and drop."""

from __future__ import annotations

import importlib
import platform
import time
import traceback
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar,
    QPushButton, QSlider, QStyle, QTabWidget, QToolBar, QWidget,
)

from .. import __version__
from ..audio.io import AUDIO_EXTENSIONS, MIDI_EXTENSIONS, probe_paths
from ..errors import MusiclabError
from ..paths import resources_dir
from .context import AppContext
from .player import PlayerController
from .services.base import Job, ModelService
from .tabs.base import PLAY_PENDING, ComingSoonTab, WorkbenchTab

#: (key, module, class, title, what it will do) — a tab whose module is missing says so.
TABS = [
    ("live", "musiclab.gui.tabs.live", "LiveTab", "Live",
     "Scrolling spectrogram, mel spectrogram and chromagram of the microphone or a playing file."),
    ("composer", "musiclab.gui.tabs.composer", "ComposerTab", "Composer",
     "An LSTM that writes music from MIDI, with a piano roll and SoundFont playback."),
    ("stitcher", "musiclab.gui.tabs.stitcher", "StitcherTab", "Stitcher",
     "Cut songs into chunks and chain them into a new song with a learned transition scorer."),
    ("emotion", "musiclab.gui.tabs.emotion", "EmotionTab", "Emotion",
     "Where a song sits on the valence/arousal plane, per track and over time."),
]
MAX_RECENT = 10


#: a message longer than this many lines shows its first lines in the dialog, the rest behind "Show Details"
DIALOG_MAX_LINES = 12


def dialog_text(text: str, max_lines: int = DIALOG_MAX_LINES) -> tuple[str, str]:
    """``(text shown, detailed text)`` of a message's dialog: a drop of 3,000 bad files is one
    dialog of a screen's height naming the first files, with every name in the details."""
    lines = text.splitlines()
    if len(lines) <= max_lines:
        return text, ""
    more = len(lines) - (max_lines - 1)
    return "\n".join(lines[: max_lines - 1] + [f"\u2026 and {more} more (Show Details\u2026 lists them all)"]), text


def status_line(text: str) -> str:
    """A message on one status-bar line: its first line, and how many more lines it has."""
    lines = text.splitlines() or [""]
    return lines[0] + (f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else "")


def fmt_time(seconds: float) -> str:
    seconds = max(0.0, seconds)
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


class MainWindow(QMainWindow):
    files_routed = Signal(str, list)  # tab key, paths (for tests and logging)

    def __init__(self, settings: Optional[QSettings] = None, player: Optional[PlayerController] = None,
                 headless: bool = False):
        super().__init__()
        self.setWindowTitle("musiclab")
        self.setAcceptDrops(True)
        icon = resources_dir() / "icons" / "musiclab.png"
        if icon.exists():
            self.setWindowIcon(QIcon(str(icon)))
        if settings is None:
            from .app import make_settings

            settings = make_settings()  # honours MUSICLAB_SETTINGS
        self.settings = settings
        self.player = player or PlayerController(parent=self)
        self.ctx = AppContext(self.settings, self.player, self)
        self.ctx.headless = headless
        self.messages: list[tuple[str, bool]] = []  # every notification, newest last
        self.failed_tabs: dict[str, str] = {}  # key -> why the workbench could not start
        self._jobs: dict[int, tuple[ModelService, str, float]] = {}
        self._player_stale = True  # the owner's playable audio changed since it was loaded
        self.last_routed: dict[str, list[Path]] = {}
        self.last_dialog: Optional[QMessageBox] = None  # the latest error dialog (a real window only)

        self.ctx.message.connect(self._on_message)
        self.ctx.service_added.connect(self._watch_service)
        self.ctx.recent_added.connect(self.add_recent)
        self.files_svc = self.ctx.make_service("files")
        self.ctx.open_in.connect(self._open_in)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.tab_by_key: dict[str, WorkbenchTab] = {}
        for key, module, cls, title, text in TABS:
            tab = self._make_tab(key, module, cls, title, text)
            self.tab_by_key[key] = tab
            self.tabs.addTab(tab, tab.title or title)
            tab.playable_changed.connect(lambda t=tab: self._on_playable_changed(t))
        self.tabs.currentChanged.connect(self._on_tab_changed)

        self._build_transport()
        self._build_status_bar()
        self._build_menus()
        self.player.position_changed.connect(self._on_position)
        self.player.state_changed.connect(self._on_player_state)
        self.player.unavailable.connect(self._on_no_sound)
        self.player.loaded.connect(self._on_player_loaded)
        self._restore_settings()
        self._update_audio_status()

    # ------------------------------------------------------------------ construction --
    def _make_tab(self, key, module, cls, title, text) -> WorkbenchTab:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return ComingSoonTab(self.ctx, key, title, text)
            raise
        try:
            tab = getattr(mod, cls)(self.ctx)
        except Exception as exc:  # a broken tab must not take the whole app down
            traceback.print_exc()
            self.failed_tabs[key] = f"{type(exc).__name__}: {exc}"
            return ComingSoonTab(self.ctx, key, title, f"{text}<br><b>It failed to start:</b> {exc}")
        tab.key = tab.key or key
        tab.title = tab.title or title
        return tab

    def _build_transport(self) -> None:
        bar = QToolBar("Transport")
        bar.setObjectName("transport")
        bar.setMovable(False)
        bar.setIconSize(QSize(20, 20))
        st = self.style()
        self.act_play = QAction(st.standardIcon(QStyle.SP_MediaPlay), "Play", self)
        self.act_play.setShortcut(QKeySequence(Qt.Key_Space))
        self.act_play.setShortcutContext(Qt.WindowShortcut)
        self.act_play.setToolTip("Play / pause what the current tab holds (Space)")
        self.act_play.triggered.connect(self.toggle_play)
        self.act_stop = QAction(st.standardIcon(QStyle.SP_MediaStop), "Stop", self)
        self.act_stop.setShortcut(QKeySequence("Ctrl+."))
        self.act_stop.setToolTip("Stop (Ctrl+.)")
        self.act_stop.triggered.connect(self.player.stop)
        self.act_back = QAction(st.standardIcon(QStyle.SP_MediaSeekBackward), "Back 5 s", self)
        self.act_back.setShortcut(QKeySequence("Ctrl+Left"))
        self.act_back.triggered.connect(lambda: self.player.seek(self.player.position - 5))
        self.act_fwd = QAction(st.standardIcon(QStyle.SP_MediaSeekForward), "Forward 5 s", self)
        self.act_fwd.setShortcut(QKeySequence("Ctrl+Right"))
        self.act_fwd.triggered.connect(lambda: self.player.seek(self.player.position + 5))
        for a in (self.act_play, self.act_stop, self.act_back, self.act_fwd):
            bar.addAction(a)
        self.seek_slider = QSlider(Qt.Horizontal)
        self.seek_slider.setRange(0, 1000)
        self.seek_slider.setToolTip("Seek")
        self.seek_slider.setMinimumWidth(240)
        self.seek_slider.sliderMoved.connect(self._on_seek_slider)
        self.time_label = QLabel("0:00 / 0:00")
        self.time_label.setMinimumWidth(90)
        self.now_playing = QLabel("")
        self.now_playing.setStyleSheet("color: palette(mid);")
        holder = QWidget()
        lay = QHBoxLayout(holder)
        lay.setContentsMargins(6, 0, 6, 0)
        lay.addWidget(self.seek_slider, 1)
        lay.addWidget(self.time_label)
        lay.addWidget(self.now_playing)
        bar.addWidget(holder)
        self.addToolBar(Qt.TopToolBarArea, bar)
        self.transport = bar

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.audio_status = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.job_label = QLabel()
        self.job_label.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key_Escape))
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.cancel_button.hide()
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.audio_status)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        a = m.addAction("&Open…", self.open_dialog)
        a.setShortcut(QKeySequence.Open)
        self.recent_menu = m.addMenu("Open &Recent")
        self._rebuild_recent_menu()
        a = m.addAction("&Export…", self.export_current)
        a.setShortcut(QKeySequence("Ctrl+E"))
        m.addSeparator()
        a = m.addAction("&Quit", self.close)
        a.setShortcut(QKeySequence.Quit)

        v = mb.addMenu("&View")
        for i, (key, *_rest) in enumerate(TABS):
            tab = self.tab_by_key[key]
            act = v.addAction(tab.title, lambda i=i: self.tabs.setCurrentIndex(i))
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
        v.addSeparator()
        act = v.addAction("&Full Screen", self._toggle_fullscreen)
        act.setShortcut(QKeySequence.FullScreen)

        p = mb.addMenu("&Playback")
        for a in (self.act_play, self.act_stop, self.act_back, self.act_fwd):
            p.addAction(a)
        p.addSeparator()
        self.device_menu = p.addMenu("Output &Device")
        self.device_menu.aboutToShow.connect(self._rebuild_device_menu)

        h = mb.addMenu("&Help")
        h.addAction("&About musiclab", self.show_about)
        h.addAction("&Keyboard Shortcuts", self.show_shortcuts)
        h.addAction("Open &User Folder", self._open_user_folder)

    # ------------------------------------------------------------------ files --------
    def open_dialog(self) -> None:
        start = self.settings.value("last_dir", str(Path.home()), type=str)
        exts = " ".join(f"*{e}" for e in sorted(AUDIO_EXTENSIONS | MIDI_EXTENSIONS))
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open audio or MIDI files", start,
            f"Audio and MIDI ({exts});;Audio ({' '.join('*' + e for e in sorted(AUDIO_EXTENSIONS))});;"
            f"MIDI ({' '.join('*' + e for e in sorted(MIDI_EXTENSIONS))});;All files (*)")
        if paths:
            self.settings.setValue("last_dir", str(Path(paths[0]).parent))
            self.open_paths(paths)

    def open_paths(self, paths) -> Job:
        """Probe files (folders expanded) once, on a worker, then route them to the tabs.

        MIDI goes to the Composer; audio goes to the current tab (or, if the current tab
        takes no audio, to Live). Every file that cannot go anywhere is named in one message
        per drop. Returns the probing :class:`Job`; once it is done, :attr:`last_routed`
        holds ``{tab key: [paths]}`` of what was delivered (``files_routed`` fires per tab).
        """
        given = [Path(p) for p in paths]
        current = self.current_tab()
        job = self.files_svc.submit(probe_paths, given, label="Opening files")
        job.on_result(lambda probed: self._route(given, probed, current))
        return job

    def _route(self, given: list[Path], probed: list, current: WorkbenchTab) -> None:
        problems: list[str] = []  # one message per drop, however many files fail
        routed: dict[str, list[Path]] = {}
        redirected: list[str] = []
        redirect_tab: Optional[WorkbenchTab] = None
        for pf in probed:
            f = pf.path
            if pf.problem:
                problems.append(pf.problem)
                continue
            if pf.kind == "midi":
                target = self.tab_by_key["composer"]
                if not target.accepts(f):
                    problems.append(f"'{f.name}' is a MIDI file; the Composer workbench that opens MIDI "
                                    "is not available.")
                    continue
            else:
                target = current if current.accepts(f) else self._first_tab_accepting(f)
                if target is None:
                    problems.append(f"'{f.name}': no workbench can open audio.")
                    continue
                if target is not current:
                    redirected.append(f.name)
                    redirect_tab = target
            routed.setdefault(target.key, []).append(f)
        if len(problems) == 1:
            self.ctx.notify(problems[0], error=True)
        elif problems:
            self.ctx.notify(f"{len(problems)} files could not be opened:\n" + "\n".join(problems), error=True)
        if redirected:
            names = f"'{redirected[0]}'" if len(redirected) == 1 else f"{len(redirected)} audio files"
            self.ctx.notify(f"{current.title} works on MIDI; {names} opened in {redirect_tab.title}.")
        opened = {str(pf.path) for pf in probed if not pf.problem}
        for p in given:  # the folders and files the user chose, not every file inside a folder
            if p.exists() and (p.is_dir() and routed or str(p) in opened):
                self.add_recent(str(p))
        self.last_routed = routed
        for key, fs in routed.items():
            tab = self.tab_by_key[key]
            if tab is not current and key == "composer" and len(routed) == 1:
                self.tabs.setCurrentWidget(tab)
            try:
                tab.open_files(fs)
            except Exception as exc:  # a tab's bug must not lose the user's session
                traceback.print_exc()
                self.ctx.notify(f"{tab.title} could not open {len(fs)} file(s): {exc}", error=True)
            self.files_routed.emit(key, [str(f) for f in fs])

    def _open_in(self, key: str, paths: list) -> None:
        """A workbench hands files it wrote to another (see ``AppContext.send_to``)."""
        tab = self.tab_by_key.get(key)
        if tab is None or isinstance(tab, ComingSoonTab):
            self.ctx.notify(f"The {key} workbench is not available.", error=True)
            return
        self.tabs.setCurrentWidget(tab)
        tab.open_files([Path(p) for p in paths])
        self.files_routed.emit(key, list(paths))

    def _first_tab_accepting(self, f: Path) -> Optional[WorkbenchTab]:
        for key in ("live", "stitcher", "emotion"):
            tab = self.tab_by_key[key]
            if tab.accepts(f):
                return tab
        return None

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        paths = [u.toLocalFile() for u in urls if u.isLocalFile()]
        others = [u.toString() for u in urls if not u.isLocalFile()]
        for o in others:
            self.ctx.notify(f"'{o}' is not a local file; download it first.", error=True)
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ------------------------------------------------------------------ recent ---------
    def recent_files(self) -> list[str]:
        val = self.settings.value("recent_files", [])
        if isinstance(val, str):
            val = [val] if val else []
        return [str(v) for v in (val or [])]

    def add_recent(self, path: str) -> None:
        items = [p for p in self.recent_files() if p != path]
        items.insert(0, path)
        self.settings.setValue("recent_files", items[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self.recent_files()
        for i, p in enumerate(items):
            act = self.recent_menu.addAction(f"&{(i + 1) % 10} {Path(p).name}", lambda p=p: self.open_paths([p]))
            act.setToolTip(p)
            act.setStatusTip(p)
        if items:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Menu", self._clear_recent)
        self.recent_menu.setEnabled(bool(items))

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])
        self._rebuild_recent_menu()

    # ------------------------------------------------------------------ transport ------
    def current_tab(self) -> WorkbenchTab:
        return self.tabs.currentWidget()

    def toggle_play(self) -> None:
        tab = self.current_tab()
        if self.player.state in ("playing", "paused") and self.player.owner is tab and not self._player_stale:
            self.player.toggle()
            return
        audio = tab.playable_audio()
        if audio is None:
            if self.player.state in ("playing", "paused"):
                self.player.toggle()
            else:
                self.ctx.notify(f"Nothing to play in {tab.title}: open or make some audio first.")
            return
        if audio is PLAY_PENDING:  # the tab decodes in a job and starts the player itself
            self.statusBar().showMessage(f"Preparing audio in {tab.title}…", 3000)
            return
        samples, sr, label = audio
        self.player.play(samples, sr, label, owner=tab)

    def _on_playable_changed(self, tab: WorkbenchTab) -> None:
        if tab is self.player.owner:
            self._player_stale = True

    def _on_player_loaded(self, label: str, duration: float) -> None:
        self._player_stale = False
        self._show_now_playing()

    def _show_now_playing(self) -> None:
        """The transport names what plays only while its owner is the current tab."""
        mine = self.player.owner is not None and self.player.owner is self.current_tab()
        self.now_playing.setText(self.player.label if mine else "")

    def _on_seek_slider(self, value: int) -> None:
        if self.player.duration > 0:
            self.player.seek(value / 1000 * self.player.duration)

    def _on_position(self, seconds: float) -> None:
        dur = self.player.duration
        self.time_label.setText(f"{fmt_time(seconds)} / {fmt_time(dur)}")
        if not self.seek_slider.isSliderDown() and dur > 0:
            self.seek_slider.setValue(int(1000 * seconds / dur))
        owner = self.player.owner
        if isinstance(owner, WorkbenchTab):
            owner.on_playback_position(seconds)

    def _on_player_state(self, state: str) -> None:
        st = self.style()
        playing = state == "playing"
        self.act_play.setIcon(st.standardIcon(QStyle.SP_MediaPause if playing else QStyle.SP_MediaPlay))
        self.act_play.setText("Pause" if playing else "Play")

    def _on_no_sound(self, message: str) -> None:
        """Play with no audio output: a note in the status bar and beside the transport, never a
        dialog (the same words as every tab: "No sound: ...")."""
        self.ctx.notify(message if message.startswith("No sound") else f"No sound: {message}")
        self._update_audio_status()
        self.now_playing.setText("no audio output (see the status bar)")

    def _rebuild_device_menu(self) -> None:
        from ..audio.playback import output_devices

        self.device_menu.clear()
        current = self.player.core.device
        act = self.device_menu.addAction("System default", lambda: self.set_output_device(None))
        act.setCheckable(True)
        act.setChecked(current is None)
        devices = output_devices()
        for d in devices:
            act = self.device_menu.addAction(d["name"], lambda name=d["name"]: self.set_output_device(name))
            act.setCheckable(True)
            act.setChecked(current == d["name"])
        if not devices:
            self.device_menu.addAction(self.audio_status.toolTip() or "No output devices").setEnabled(False)

    def set_output_device(self, name: Optional[str]) -> None:
        """Choose the output device by name (None = system default); remembered."""
        self.player.stop()
        self.player.core.device = name
        self.settings.setValue("audio/output_device", name or "")
        self._update_audio_status()

    def _update_audio_status(self) -> None:
        ok, msg = self.player.available()
        if ok:
            self.audio_status.setText(f"Output: {msg}")
            self.audio_status.setToolTip(f"Audio output: {msg}")
        else:
            self.audio_status.setText("no audio output")
            self.audio_status.setToolTip(msg)
            self.audio_status.setStyleSheet("color: #b45309;")

    # ------------------------------------------------------------------ jobs -----------
    def _watch_service(self, svc: ModelService) -> None:
        svc.job_started.connect(lambda rid, label, s=svc: self._job_started(s, rid, label))
        svc.progress.connect(self._job_progress)
        svc.job_finished.connect(self._job_finished)
        svc.error.connect(lambda rid, msg: self.ctx.notify(msg, error=True))
        svc.cancelled.connect(lambda rid: self.statusBar().showMessage("Cancelled.", 4000))

    def _job_started(self, svc: ModelService, rid: int, label: str) -> None:
        self._jobs[rid] = (svc, label, time.monotonic())
        self.job_label.setText(label)
        self.progress.setRange(0, 0)
        for w in (self.job_label, self.progress, self.cancel_button):
            w.show()

    def _job_progress(self, rid: int, done: int, total: int, message: str) -> None:
        if rid not in self._jobs:
            return
        _svc, label, t0 = self._jobs[rid]
        if total > 0:
            self.progress.setRange(0, 1000)
            frac = min(1.0, done / total)
            self.progress.setValue(int(1000 * frac))
            elapsed = time.monotonic() - t0
            eta = f" — {fmt_time(elapsed * (1 - frac) / frac)} left" if 0.02 < frac < 1 and elapsed > 2 else ""
            self.progress.setFormat(f"{100 * frac:.0f}%")
        else:
            self.progress.setRange(0, 0)
            eta = ""
        self.job_label.setText(f"{label}: {message}{eta}" if message else f"{label}{eta}")

    def _job_finished(self, rid: int) -> None:
        self._jobs.pop(rid, None)
        if not self._jobs:
            for w in (self.job_label, self.progress, self.cancel_button):
                w.hide()
        else:
            _svc, label, _t0 = next(reversed(self._jobs.values()))
            self.job_label.setText(label)

    def cancel_jobs(self) -> None:
        for svc, _label, _t0 in list(self._jobs.values()):
            svc.cancel()
        self.statusBar().showMessage("Cancelling…", 2000)

    def busy(self) -> bool:
        return any(s.is_busy() for s in self.ctx.services)

    # ------------------------------------------------------------------ messages -------
    def _on_message(self, text: str, error: bool) -> None:
        self.messages.append((text, error))
        self.statusBar().showMessage(("⚠ " if error else "") + status_line(text), 10000 if error else 5000)
        if error and not self.ctx.headless:
            short, details = dialog_text(text)
            box = QMessageBox(QMessageBox.Warning, "musiclab", short, QMessageBox.Ok, self)
            if details:
                box.setDetailedText(details)  # every name, scrollable, behind "Show Details..."
            box.setModal(False)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.show()
            self.last_dialog = box

    # ------------------------------------------------------------------ export, help ---
    def export_current(self) -> None:
        tab = self.current_tab()
        try:
            tab.export()
        except MusiclabError as exc:
            self.ctx.notify(str(exc), error=True)

    def show_about(self) -> None:
        QMessageBox.about(self, "About musiclab", about_html())

    def show_shortcuts(self) -> None:
        rows = [("Space", "Play / pause"), ("Ctrl+.", "Stop"), ("Ctrl+Left / Ctrl+Right", "Seek 5 s"),
                ("Ctrl+O", "Open files"), ("Ctrl+E", "Export"), ("Ctrl+1 … Ctrl+4", "Switch workbench"),
                ("Esc", "Cancel the running job"), ("Ctrl+Q", "Quit")]
        html = "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
        QMessageBox.information(self, "Keyboard shortcuts", html)

    def _open_user_folder(self) -> None:
        from ..paths import user_data_dir

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(user_data_dir())))

    def _toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _on_tab_changed(self, index: int) -> None:
        self.settings.setValue("last_tab", self.current_tab().key)
        self._show_now_playing()

    # ------------------------------------------------------------------ settings -------
    def _restore_settings(self) -> None:
        geo = self.settings.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 820)
        device = self.settings.value("audio/output_device", "")
        if device:
            self.player.core.device = str(device)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)
        last = self.settings.value("last_tab", "live")
        if last in self.tab_by_key:
            self.tabs.setCurrentWidget(self.tab_by_key[last])
        for key, tab in self.tab_by_key.items():
            self.settings.beginGroup(f"tab_{key}")
            try:
                tab.restore_settings(self.settings)
            except Exception:
                traceback.print_exc()
            finally:
                self.settings.endGroup()

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("last_tab", self.current_tab().key)
        for key, tab in self.tab_by_key.items():
            self.settings.beginGroup(f"tab_{key}")
            try:
                tab.save_settings(self.settings)
            except Exception:
                traceback.print_exc()
            finally:
                self.settings.endGroup()
        self.settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save_settings()
        for tab in self.tab_by_key.values():
            try:
                tab.shutdown()
            except Exception:
                traceback.print_exc()
        self.player.shutdown()
        for svc in self.ctx.services:
            svc.shutdown()
        super().closeEvent(event)


def about_html() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "not installed"

    import PySide6

    libs = [("Python", platform.python_version()), ("Qt / PySide6", PySide6.__version__)]
    libs += [(p, v(p)) for p in ("pyqtgraph", "torch", "librosa", "music21", "sounddevice", "pydub", "soundfile")]
    rows = "".join(f"<tr><td>{k}</td><td>{val}</td></tr>" for k, val in libs)
    cards = []
    models = resources_dir() / "models"
    for card in sorted(models.glob("*/*.md")) if models.is_dir() else []:
        lic = next((ln.split(":", 1)[1].strip() for ln in card.read_text(errors="replace").splitlines()
                    if ln.lower().lstrip("-* ").startswith("licence") or ln.lower().lstrip("-* ").startswith("license")), "see model card")
        cards.append(f"<li><b>{card.parent.name}/{card.stem}</b>: {lic}</li>")
    models_html = "<ul>" + "".join(cards) + "</ul>" if cards else "<p>No bundled models.</p>"
    return (f"<h3>musiclab {__version__}</h3><p>See, hear and train deep-learning models of music.</p>"
            f"<table>{rows}</table><h4>Bundled models (model cards in resources/models)</h4>{models_html}"
            "<p>Demo data and SoundFont licences: see the model cards; TimGM6mb.sf2 is GPL-2 (from pretty_midi).</p>")
