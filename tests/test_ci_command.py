"""The README's test command is the one CI runs: `.ci/run` ends with the very line the README's
opening block gives a new user, so the two cannot drift apart."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    """The command under the README's "set up and run the tests" comment."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# set up and run the tests"))
    return next(line for line in lines[start:] if line and not line.startswith("#"))


def test_ci_runs_the_readme_test_command():
    command = readme_test_command()
    assert "pytest" in command
    ci_commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                   if line and not line.startswith(("#", "set ", "cd ", "export "))]
    assert ci_commands == [command]
