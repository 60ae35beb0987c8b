"""The ``tinyconv coursework`` and ``tinyconv grade`` subcommands (parsers and what they run)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_coursework_commands", "run_coursework_command"]


def add_coursework_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``coursework {list,new}`` and ``grade`` to the ``tinyconv`` parser."""
    coursework = commands.add_parser("coursework", help="list assignments, or write one out for "
                                                        "a student")
    actions = coursework.add_subparsers(dest="coursework_command", metavar="ACTION")
    actions.add_parser("list", help="the assignments shipped with tinyconv")
    new = actions.add_parser("new", help="write an assignment's template and statement")
    new.add_argument("name", help="the assignment (see: tinyconv coursework list)")
    new.add_argument("folder", help="where to write it (created if needed)")

    grade = commands.add_parser(
        "grade", help="grade a student's file with properties (shrunk counterexamples)",
        description="Run an assignment's properties on a student's file, each in a subprocess "
                    "with a time and memory limit; exit status 0 only if all pass.")
    grade.add_argument("path", metavar="DIR_OR_FILE",
                       help="the student's file, or the folder holding it")
    grade.add_argument("--assignment", default=None,
                       help="the assignment (default: read from the file's first line)")
    grade.add_argument("--json", default=None, metavar="OUT",
                       help="also write Gradescope's results.json format to OUT")
    grade.add_argument("--profile", default="quick", choices=["quick", "thorough"])
    grade.add_argument("--timeout", type=float, default=60.0, metavar="S",
                       help="seconds per property (default: %(default)s)")
    grade.add_argument("--memory", type=int, default=2048, metavar="MB",
                       help="address-space limit of the process running the student's code "
                            "(default: %(default)s)")
    grade.add_argument("--only", nargs="+", default=None, metavar="PROPERTY",
                       help="grade just these properties (names as in the report)")
    grade.add_argument("--seed", type=int, default=0,
                       help="hypothesis seed (the same seed gives the same counterexamples)")


def run_coursework_command(args: argparse.Namespace) -> int:
    """Run ``coursework ...`` or ``grade``; returns the exit status."""
    from tinyconv import coursework

    if args.command == "grade":
        from tinyconv.coursework.runner import grade_submission

        try:
            return grade_submission(args.path, assignment=args.assignment, profile=args.profile,
                                    timeout=args.timeout, seed=args.seed, memory_mb=args.memory,
                                    json_path=args.json, only=args.only)
        except (FileNotFoundError, ValueError) as error:
            print(f"tinyconv {error}", file=sys.stderr)
            return 2
    if args.coursework_command == "list":
        for name, assignment in coursework.assignments().items():
            print(f"{name:<18}{assignment.title}")
        return 0
    if args.coursework_command == "new":
        try:
            written = coursework.write_assignment(args.name, args.folder)
        except (FileExistsError, ValueError) as error:
            print(f"tinyconv coursework new: {error}", file=sys.stderr)
            return 2
        print("wrote " + ", ".join(str(path) for path in written)
              + f"\ngrade it with: tinyconv grade {args.folder}")
        return 0
    print("tinyconv coursework: say 'list' or 'new NAME DIR'", file=sys.stderr)
    return 2
