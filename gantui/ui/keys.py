"""Every key of the dashboard, in one list: the app binds it, the footer and the help screen show it.

Keys that come in pairs share a footer group (``+/-  k``) so the footer fits in 80 columns; the help
screen lists every binding one per line. The view keys (zoom, scroll, smoothing, scale) are listed
on the line above the plots instead of the footer.
"""

from __future__ import annotations

from textual.binding import Binding

__all__ = ["BINDINGS", "HELP_ROWS", "help_rows"]

_K = Binding.Group("k", compact=True)
_LR_D = Binding.Group("lr D", compact=True)
_LR_G = Binding.Group("lr G", compact=True)

BINDINGS: list[Binding] = [
    # space is bound twice; check_action enables exactly one, so the footer says Pause or Resume.
    Binding("space", "pause", "Pause", id="pause"),
    Binding("space", "resume", "Resume", id="resume"),
    Binding("n", "step('iteration')", "Step", id="step"),
    Binding("d", "step('d')", "D-step", show=False, id="step_d"),
    Binding("g", "step('g')", "G-step", show=False, id="step_g"),
    Binding("plus", "k(1)", "k+1", group=_K, id="k_up"),
    Binding("minus", "k(-1)", "k−1", group=_K, id="k_down"),
    Binding("l", "pick_loss", "Loss", id="loss"),
    Binding("left_square_bracket", "lr('d', 0.5)", "D lr ×½", group=_LR_D, id="lr_d_down"),
    Binding("right_square_bracket", "lr('d', 2.0)", "D lr ×2", group=_LR_D, id="lr_d_up"),
    Binding("left_curly_bracket", "lr('g', 0.5)", "G lr ×½", group=_LR_G, id="lr_g_down"),
    Binding("right_curly_bracket", "lr('g', 2.0)", "G lr ×2", group=_LR_G, id="lr_g_up"),
    Binding("D", "freeze('d')", "Freeze/unfreeze D", show=False, id="freeze_d"),
    Binding("G", "freeze('g')", "Freeze/unfreeze G", show=False, id="freeze_g"),
    Binding("o", "probe", "Probe", show=False, id="probe"),
    Binding("E", "evaluate", "Evaluate", show=False, id="evaluate"),
    Binding("r", "toggle_real", "Real", show=False, id="real"),
    Binding("c", "one_class", "One class", show=False, id="one_class"),
    Binding("v", "next_class", "Next class", show=False, id="next_class"),
    Binding("w", "next_sweep", "Sweep", show=False, id="next_sweep"),
    Binding("s", "save_checkpoint", "Save", show=False, id="save"),
    Binding("u", "rollback", "Rollback", show=False, id="rollback"),
    Binding("p", "save_preset", "Preset", show=False, id="preset"),
    # the view: what part of the history the plots show, and how
    Binding("1", "zoom(1000)", "Last 1k", show=False, id="zoom_1k"),
    Binding("2", "zoom(10000)", "Last 10k", show=False, id="zoom_10k"),
    Binding("3", "zoom(100000)", "Last 100k", show=False, id="zoom_100k"),
    Binding("0", "reset_view", "Reset view", show=False, id="reset_view"),
    Binding("z", "zoom_in", "Zoom in", show=False, id="zoom_in"),
    Binding("Z", "zoom_out", "Zoom out", show=False, id="zoom_out"),
    Binding("left", "scroll_view(-1)", "Back", show=False, id="scroll_back"),
    Binding("right", "scroll_view(1)", "Forward", show=False, id="scroll_forward"),
    Binding("home", "view_start", "Start", show=False, id="view_start"),
    Binding("end", "follow", "Follow", show=False, id="follow"),
    Binding("e", "smooth", "Smooth", show=False, id="smooth"),
    Binding("y", "log_scale", "Log y", show=False, id="log_scale"),
    Binding("m", "choose_plots", "Plots", id="plots"),
    Binding("x", "maximise", "Maximise", show=False, id="maximise"),
    # q is bound twice too: the controller says whether it ends the run or leaves it training.
    Binding("q", "quit", "Quit", id="quit"),
    Binding("q", "leave", "Detach", id="leave"),
    Binding("b", "detach", "Detach", show=False, id="detach"),
    Binding("K", "stop_run", "Stop run", id="stop_run"),  # only where q detaches (an attached viewer)
    Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True, id="interrupt"),
    Binding("question_mark", "help", "Help", id="help"),
]

# What the help screen shows: the key as typed, and what it does (longer than the footer label).
HELP_ROWS: list[tuple[str, str]] = [
    ("space", "pause / resume training"),
    ("n", "one iteration (k D-steps + one G-step) while paused"),
    ("d", "one D-step while paused"),
    ("g", "one G-step while paused"),
    ("+ / -", "k (D-steps per G-step) up / down, never below 1"),
    ("l", "pick the loss (objective) from a list"),
    ("[ / ]", "D learning rate ×½ / ×2"),
    ("{ / }", "G learning rate ×½ / ×2"),
    ("D / G", "freeze or unfreeze D / G"),
    ("o", "run the D-optimality probe (tighter JSD read-out)"),
    ("r", "show real samples beside the generated ones (on / off)"),
    ("E", "evaluate image quality now (FID or fd_classifier, precision / recall, classes)"),
    ("c", "conditional runs: the selected class alone / all"),
    ("v", "conditional runs: the next class (scrolls the rows)"),
    ("w", "InfoGAN: the next continuous code to sweep"),
    ("s", "save a checkpoint now"),
    ("u", "roll back to the last good checkpoint (and pause)"),
    ("p", "save the current settings as a preset"),
    ("1 / 2 / 3", "the last 1k / 10k / 100k iterations (y fits what is shown)"),
    ("0", "reset the view: the whole run, following the newest, raw, linear y"),
    ("z / Z", "zoom in / out (also the mouse wheel over a plot)"),
    ("← / →", "scroll back / forward half a window (shift+wheel)"),
    ("home / end", "the start of the run / follow the newest again"),
    ("e", "smoothing (EMA) 0 → 0.6 → 0.9 → 0.99; the raw values stay faint"),
    ("y", "log / linear y scale (losses, gradient norms, divergences)"),
    ("m", "choose the plots: every metric the trainer reports"),
    ("tab", "select the next panel (a click selects one too)"),
    ("x", "maximise the selected panel / restore (escape restores too)"),
    ("ctrl+p", "command palette: every loss, preset, plot and action"),
    ("q", "quit, saving a final checkpoint (q again: quit now)"),
    ("b", "detach: the run goes on training in the background (gantui attach RUN to watch it again)"),
    ("ctrl+c", "the same as q"),
    ("?", "this help"),
]

# Where q leaves the run training (an attached viewer), these rows replace the local ones.
_VIEWER_ROWS: dict[str, str] = {
    "q": "detach: leave the run training (gantui attach RUN to watch it again)",
    "b": "the same as q",
    "K": "stop the run, saving a final checkpoint (asks first)",
}


def help_rows(*, quit_detaches: bool) -> list[tuple[str, str]]:
    """The help screen's rows for a dashboard whose q ends the run, or (``quit_detaches``) leaves it."""
    if not quit_detaches:
        return list(HELP_ROWS)
    rows: list[tuple[str, str]] = []
    for key, text in HELP_ROWS:
        rows.append((key, _VIEWER_ROWS.get(key, text)))
        if key == "b":
            rows.append(("K", _VIEWER_ROWS["K"]))
    return rows
