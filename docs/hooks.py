"""MkDocs hooks that build the site from the repository as it is (no copies to keep in sync).

- The **home page** is the repository's ``README.md`` and the **course map** is
  ``tutorials/README.md``; their links are rewritten for the site (a tutorial script becomes its
  page, an image is copied along, a link to any other repository file becomes plain text).
- Every **tutorial** ``tutorials/NN_name.py`` (a jupytext "percent" script) becomes a page: its
  ``# %% [markdown]`` cells as Markdown, its ``# %%`` cells as Python code blocks, and after a
  cell that calls ``save_figure(fig, "name.png")`` the figure, taken from the folder where the
  tutorials were last run (``TINYCONV_TUTORIAL_OUT``, default ``tutorials/_output``). The
  scripts are *not* run here: the test suite runs them once and the docs reuse their figures. A
  figure that has not been produced yet is replaced by a note saying how to produce it.
- ``docs/identities.md`` and the other Markdown files of ``docs/`` join the site when present.

The navigation is built here too (``on_config``), so a new tutorial appears without editing
``mkdocs.yml``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
DOCS = ROOT / "docs"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
FIGURE_CALL = re.compile(r"""save_figure\(\s*[^,]+,\s*["']([^"']+\.png)["']""")


def tutorial_scripts() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def figures_dir() -> Path:
    return Path(os.environ.get("TINYCONV_TUTORIAL_OUT", TUTORIALS / "_output"))


def extra_docs() -> list[Path]:
    """Markdown files of docs/ itself (e.g. identities.md), except this folder's README."""
    return sorted(p for p in DOCS.glob("*.md") if p.name != "README.md")


def tutorial_title(script: Path) -> str:
    for line in script.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return script.stem


def on_config(config):
    tutorials = [{tutorial_title(s): f"tutorials/{s.stem}.md"} for s in tutorial_scripts()]
    nav = [{"Home": "index.md"}, {"Course map": "tutorials/index.md"},
           {"Tutorials": tutorials}]
    nav += [{p.stem.replace("_", " ").capitalize(): p.name} for p in extra_docs()]
    nav.append({"API reference": [{page.stem.replace("_", "."): f"api/{page.name}"}
                                  for page in sorted((DOCS / "pages" / "api").glob("*.md"))]})
    config["nav"] = nav
    return config


class _Site:
    """Collects the generated pages and the assets they link to."""

    def __init__(self, config, files: Files):
        self.config, self.files = config, files

    def add_page(self, uri: str, markdown: str) -> None:
        self.files.append(File.generated(self.config, uri, content=markdown))

    def add_asset(self, uri: str, path: Path) -> None:
        if self.files.get_file_from_path(uri) is None:
            self.files.append(File.generated(self.config, uri, abs_src_path=str(path)))

    def rewrite_links(self, markdown: str, source: Path, page_uri: str) -> str:
        """Point a Markdown file's relative links at the site's pages and assets."""
        depth = page_uri.count("/")
        up = "../" * depth

        def replace(match: re.Match) -> str:
            bang, text, target = match.groups()
            if re.match(r"^[a-z]+:|^#", target):
                return match.group(0)                      # a URL or an anchor: keep
            path_part, _, anchor = target.partition("#")
            resolved = (source.parent / path_part).resolve()
            try:
                relative = resolved.relative_to(ROOT).as_posix()
            except ValueError:
                return text
            suffix = f"#{anchor}" if anchor else ""
            if relative == "README.md":
                return f"{bang}[{text}]({up}index.md{suffix})"
            if relative == "tutorials/README.md":
                return f"{bang}[{text}]({up}tutorials/index.md{suffix})"
            if re.fullmatch(r"tutorials/\d\d_\w+\.py", relative):
                return f"{bang}[{text}]({up}tutorials/{Path(relative).stem}.md{suffix})"
            if relative.startswith("docs/") and relative.endswith(".md") and resolved.exists() \
                    and resolved.parent == DOCS and resolved.name != "README.md":
                return f"{bang}[{text}]({up}{resolved.name}{suffix})"
            if resolved.suffix in IMAGE_SUFFIXES and resolved.exists():
                uri = f"assets/{relative}"
                self.add_asset(uri, resolved)
                return f"{bang}[{text}]({up}{uri})"
            # any other repository file: not part of the site, name it instead of linking
            return f"{text} (`{relative}`)" if text.strip("`") != relative else f"`{relative}`"

        return LINK.sub(replace, markdown)


def render_tutorial(script: Path, figures: Path, site: _Site) -> str:
    """A jupytext percent script as Markdown, with the figures it saves."""
    cells: list[tuple[str, list[str]]] = []
    for line in script.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %% [markdown]"):
            cells.append(("markdown", []))
        elif line.startswith("# %%"):
            cells.append(("code", []))
        elif cells:
            cells[-1][1].append(line)
    run_hint = f"python tutorials/{script.name}"
    source_note = (f"*Source: `tutorials/{script.name}` (run it with `{run_hint}`, or open it "
                   f"as a notebook with jupytext).*\n")
    parts: list[str] = []
    for kind, lines in cells:
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                             for line in lines)
            parts.append(site.rewrite_links(text.strip(), script,
                                            f"tutorials/{script.stem}.md") + "\n")
            continue
        code = "\n".join(lines).strip("\n")
        if not code:
            continue
        parts.append(f"```python\n{code}\n```\n")
        for name in FIGURE_CALL.findall(code):
            figure = figures / name
            if figure.exists():
                uri = f"tutorials/figures/{name}"
                site.add_asset(uri, figure)
                parts.append(f"![{name}](figures/{name})\n")
            else:
                parts.append(f"> *Figure `{name}` appears here once the tutorial has been run "
                             f"(`{run_hint}` or `pytest tests/test_tutorials.py`).*\n")
    parts.insert(1 if parts else 0, source_note)        # just after the title cell
    return "\n".join(parts)


def on_files(files: Files, config) -> Files:
    site = _Site(config, files)
    readme = ROOT / "README.md"
    site.add_page("index.md", site.rewrite_links(readme.read_text(encoding="utf-8"), readme,
                                                 "index.md"))
    course = TUTORIALS / "README.md"
    site.add_page("tutorials/index.md",
                  site.rewrite_links(course.read_text(encoding="utf-8"), course,
                                     "tutorials/index.md"))
    figures = figures_dir()
    for script in tutorial_scripts():
        site.add_page(f"tutorials/{script.stem}.md", render_tutorial(script, figures, site))
    for page in extra_docs():
        site.add_page(page.name, site.rewrite_links(page.read_text(encoding="utf-8"), page,
                                                    page.name))
    return files
