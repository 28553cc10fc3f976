"""The ``gantui`` command: the one place that wires the engine to the dashboard or the console.

``--help``, ``--version`` and ``--list-presets`` answer without importing torch. A user's mistake
(a bad preset, an unknown key, a missing dataset, a device that does not exist, a run folder in use)
ends with one line on stderr and exit status 2, never a traceback.

Exit statuses, the same for the dashboard and ``--headless``: 0 the run ended as asked (its steps, or
q); 2 a usage mistake; 3 training failed (a non-finite state or an exception; the last good state is
saved as ``last-good-*.pt``) or the run folder stayed unwritable; 128 + N after signal N (130 for
Ctrl-C, 143 SIGTERM, 129 SIGHUP), a final checkpoint saved.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from gantui import __version__
from gantui.config import ConfigError
from gantui.engine.distributed.group import LaunchError, launched
from gantui.text import printable

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_DIVERGED = EXIT_FAILED  # the name the first version used

EPILOG = """\
examples:
  gantui                                   the 8-Gaussian ring with the non-saturating loss
  gantui --preset ring8-minimax            watch the saturating loss stall
  gantui --set train.k=5 --set loss.name=hinge
  gantui --preset digits-mlp --headless --steps 2000
  gantui --resume runs/20261123-101500-ring8

keys in the dashboard (? lists them all): space pause, n/d/g step, +/- k, l loss,
[ ] { } learning rates, D/G freeze, o probe, E evaluate, r real samples,
c/v/w classes and codes, s checkpoint, u roll back, p save preset; viewing:
1/2/3 last 1k/10k/100k, z/Z zoom, left/right scroll, home/end, 0 reset, e smooth,
y log scale, m plots, x maximise; ctrl+p command palette, q quit (ctrl+c too),
b detach (the run goes on in the background); in gantui attach: q/b detach,
K stops the run (asks first)

other commands: gantui attach [RUN], gantui ls, gantui stop RUN, gantui view RUN [RUN...];
data-parallel: gantui --gpus N (or torchrun ... -m gantui --headless)

exit status: 0 done, 2 usage mistake, 3 training failed or the run folder stayed
unwritable, 128+N after signal N (a final checkpoint is saved)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (and exit 2), like every other mistake."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"gantui: error: {printable(message)} (see gantui --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gantui", description="Train a GAN and watch the adversarial game live in the terminal.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None, metavar="NAME|PATH",
                   help="preset name or .toml file (default: ring8)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset field, e.g. --set train.k=5 (repeatable)")
    p.add_argument("--device", metavar="DEV", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed")
    p.add_argument("--steps", type=int, metavar="N", help="iterations to train (0: until stopped)")
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: runs/<time>-<preset>)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in a --run-dir that already holds one (its files are replaced)")
    p.add_argument("--resume", type=Path, metavar="PATH",
                   help="continue from a checkpoint, or a run folder's newest checkpoint (by step)")
    p.add_argument("--headless", action="store_true", help="train without the dashboard")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="also serve the run over TCP (loopback unless HOST says otherwise), authenticated by "
                        "the key in RUN/attach.json; not encrypted: use ssh -L across untrusted networks")
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)  # a detached dashboard's run
    p.add_argument("--gpus", type=int, metavar="N",
                   help="train data-parallel in N processes, one GPU each (N CPU processes without CUDA); "
                        "train.batch_size is the global batch")
    p.add_argument("--colors", choices=("auto", "truecolor", "256", "16"), default=None,
                   help="colour depth of the dashboard (auto: from COLORTERM and TERM)")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    p.add_argument("--version", action="version", version=f"gantui {__version__}")
    return p


def _derived_overrides(args: argparse.Namespace) -> list[str]:
    """Shortcut flags become ``--set`` overrides, so they are validated like any other value."""
    out = list(args.overrides)
    if args.device is not None:
        out.append(f"train.device={args.device}")
    if args.seed is not None:
        out.append(f"train.seed={args.seed}")
    if args.steps is not None:
        out.append(f"train.steps={args.steps}")
    if args.colors is not None:
        out.append(f'ui.colors="{args.colors}"')
    return out


def _list_presets() -> int:
    from gantui.presets import list_presets

    presets = list_presets()
    width = max((len(printable(p.name)) for p in presets), default=0)
    for p in presets:
        tag = " (user)" if p.source == "user" else ""
        print(f"{printable(p.name):<{width}}  {printable(p.description)}{tag}")
    return 0


def error(message: str) -> int:
    print(f"gantui: error: {printable(message)}", file=sys.stderr)
    return EXIT_USAGE


def _check_headless(args: argparse.Namespace, config) -> None:
    if args.headless and config.train.steps == 0 and not args.detached:
        raise ConfigError("train.steps = 0: --headless needs a number of iterations (--steps N)")


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def resume_command(run_dir: Path | str, *, steps_done: int | None = None) -> str:
    """The exact command that continues a run (with a larger --steps when it reached its end)."""
    cmd = f"gantui --resume {shlex.quote(str(run_dir))}"
    return cmd + (f" --steps {2 * steps_done}" if steps_done else "")


def main(argv: Sequence[str] | None = None) -> int:
    from gantui.remote.cli import dispatch  # gantui attach | ls | stop | view

    if (status := dispatch(sys.argv[1:] if argv is None else argv)) is not None:
        return status
    args = build_parser().parse_args(argv)
    try:
        if args.list_presets:
            return _list_presets()
        if args.gpus is not None or launched() is not None:  # a data-parallel run (gantui/parallel.py)
            from gantui.parallel import run_parallel

            return run_parallel(args, list(sys.argv[1:] if argv is None else argv))
        return _run(args)
    except (ConfigError, LaunchError) as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        return 128 + 2
    except BrokenPipeError:  # `gantui --list-presets | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _check_args(args: argparse.Namespace) -> None:
    if args.resume is not None and args.preset is not None:
        raise ConfigError("--preset and --resume: a resumed run keeps its own configuration "
                          "(change fields with --set)")
    if args.resume is not None and args.overwrite:
        raise ConfigError("--overwrite and --resume: --overwrite starts a new run, --resume continues one")
    if args.run_dir is not None:
        if args.run_dir.strip() in ("", "."):
            raise ConfigError(f"--run-dir {args.run_dir!r}: expected a folder of its own for the run")
        args.run_dir = Path(args.run_dir)
    if args.resume is not None and not str(args.resume).strip():
        raise ConfigError("--resume '': expected a run folder or a checkpoint file")
    if args.listen is not None:
        from gantui.remote.paths import parse_hostport

        try:
            parse_hostport(args.listen)
        except ValueError as exc:
            raise ConfigError(f"--listen {args.listen!r}: {exc}") from None


def _check_terminal(args: argparse.Namespace) -> None:
    """Without a terminal the dashboard would write its escape codes into a file or a pipe."""
    if not args.headless and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise ConfigError("the dashboard needs a terminal (standard input and output are not both one); "
                          "use --headless to train without it")


def _run(args: argparse.Namespace) -> int:
    from gantui.presets import DEFAULT_PRESET, load_config

    _check_args(args)
    overrides = _derived_overrides(args)
    preset = args.preset if args.preset is not None else DEFAULT_PRESET
    config = None
    if args.resume is None:
        config = load_config(preset, overrides)  # validate before importing torch: errors come fast
        _check_headless(args, config)
        _check_terminal(args)
    if sys.stderr.isatty():  # torch takes a few seconds to import: say what is happening
        what = f"resuming {printable(args.resume)}" if args.resume is not None else f"preset {config.preset}"
        print(f"gantui: {what}: loading torch…", file=sys.stderr, flush=True)
    # torch is imported from here on
    from gantui.engine.errors import USER_ERRORS
    from gantui.engine.session import Session, open_checkpoint, resume_config

    try:
        resumed = None
        if args.resume is not None:
            resumed = open_checkpoint(args.resume)
            config = resume_config(resumed, overrides)
            _check_headless(args, config)
            _check_terminal(args)
        session = Session.create(config, run_dir=args.run_dir, resume=resumed,
                                 mode="overwrite" if args.overwrite else "new")
    except USER_ERRORS as exc:
        return error(str(exc))
    except OSError as exc:  # e.g. a run folder that cannot be created
        return error(_os_error(exc))
    if resumed is not None:
        print(f"gantui: resuming {printable(session.folder.path if session.folder else resumed.run_dir)} "
              f"from {printable(resumed.path.name)} (step {resumed.step:,})", file=sys.stderr, flush=True)
    if args.headless:
        from gantui.headless import run_headless
        from gantui.remote.paths import RemoteError

        try:
            return run_headless(session, listen=args.listen)
        except RemoteError as exc:
            return error(str(exc))
    from gantui.dashboard import run_dashboard

    outcome = run_dashboard(session, listen=args.listen)
    while outcome.restart is not None:  # the user picked another preset in the command palette
        try:
            session = Session.create(load_config(outcome.restart, overrides))
        except USER_ERRORS as exc:
            return error(str(exc))
        except OSError as exc:
            return error(_os_error(exc))
        outcome = run_dashboard(session, listen=args.listen)
    return outcome.exit_status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
