"""Split the flat `loyalty/` folder into sub-packages, and `customers/merge.py` into a package.

    python scripts/split_packages.py [CHECKOUT] [--dry-run] [--no-format]

The layout comes from scripts/split_packages.toml (which module goes where, and why). Given a
git checkout (default: the current directory) whose loyalty modules are still flat, the script

1. moves each module that exists with `git mv` and writes each sub-package's `__init__.py`
   (modules of the mapping that are not on disk, e.g. work still in flight, are skipped);
2. rewrites every reference in src/, tests/, benchmarks/, scripts/, docs/, README.md and
   pyproject.toml: `from guanxi.loyalty import a, b` (split over the sub-packages, each keeping
   its local name: `from guanxi.loyalty.ledger import service as ledger`), dotted paths in code
   and strings (`from guanxi.loyalty.x import ...`, `import guanxi.loyalty.x`, monkeypatch and
   mock targets, importlib names), and in prose `loyalty/x.py` and backticked `loyalty.x`;
3. pins the delivery name of every outbox handler in a moved module to its old dotted path, so
   an event partly delivered before the move is not delivered to it again;
4. splits customers/merge.py into the package customers/merge/ (the import path stays; its
   `__init__` re-exports the public names), each top-level statement going to the module the
   mapping names for it;
5. adds the import-linter contracts for the sub-packages, regenerates the loyalty listing in
   docs/architecture.md and applies the mapping's text replacements in the docs;
6. sorts imports and formats the changed Python files with ruff, and stages everything.

Un-prefixed dotted names in code (`"loyalty.card"`) are message keys, permissions and URLs, never
module paths, so only `guanxi.loyalty.x` is rewritten there. The script refuses to run on a tree
with uncommitted changes (so its result is one reviewable diff) and does nothing on a tree that
is already split. Huey task names are not affected: every task is defined in `guanxi.jobs.queue`.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
import subprocess
import sys
import tokenize
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MAPPING = Path(__file__).with_suffix(".toml")
LOYALTY = "guanxi.loyalty"
REWRITE_ROOTS = ("src", "tests", "benchmarks", "scripts", "docs")
REWRITE_FILES = ("pyproject.toml", "README.md", "Makefile")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".txt", ".cfg", ".ini", ".json", ".yml", ".yaml"}
SELF = {"scripts/split_packages.py", "scripts/split_packages.toml"}


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# The plan: which moves apply to this checkout


@dataclass
class Plan:
    root: Path
    config: dict
    moves: dict[str, str] = field(default_factory=dict)  # old leaf -> "package.new"

    @property
    def loyalty_dir(self) -> Path:
        return self.root / "src/guanxi/loyalty"

    def module_map(self) -> dict[str, str]:
        """Old dotted module path -> new dotted module path, for the moves that apply."""
        return {f"{LOYALTY}.{old}": f"{LOYALTY}.{new}" for old, new in self.moves.items()}


def packages(config: dict) -> dict[str, dict]:
    return {name: spec for name, spec in config["loyalty"].items() if isinstance(spec, dict)}


def make_plan(root: Path, config: dict) -> Plan:
    plan = Plan(root, config)
    tracked = set(_git(root, "ls-files", "--", "src/guanxi/loyalty").split("\n"))
    known = set(config["loyalty"]["stay"])
    for package, spec in packages(config).items():
        for old, new in spec["modules"].items():
            known.add(old)
            source = plan.loyalty_dir / f"{old}.py"
            target = plan.loyalty_dir / package / f"{new}.py"
            if str(source.relative_to(root)) in tracked:
                if target.exists():
                    raise SystemExit(f"both {source} and {target} exist: resolve by hand first")
                plan.moves[old] = f"{package}.{new}"
    for path in sorted(plan.loyalty_dir.glob("*.py")):
        if path.stem not in known:
            warn(f"loyalty/{path.name} is in no sub-package: add it to {MAPPING.name} and run again")
    return plan


# ---------------------------------------------------------------------------------------------
# Rewriting references


DOTTED = re.compile(r"(?<![\w.])guanxi\.loyalty\.([A-Za-z_]\w*)(?!\w)")
SRC_PATH = re.compile(r"(?<![\w.])guanxi/loyalty/([A-Za-z_]\w*)\.py\b")
SHORT_PATH = re.compile(r"(?<![\w/.])loyalty/([A-Za-z_]\w*)\.py\b")
# `loyalty.x` and (loyalty.x) in prose, docstrings and comments; quoted ones are keys, not paths.
SHORT_DOTTED = re.compile(r"(?<=[`(])loyalty\.([A-Za-z_]\w*)(?!\w)")


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _span(node: ast.AST, text: str, starts: list[int]) -> tuple[int, int]:
    """A node's start and end as character offsets into `text` (ast counts UTF-8 bytes)."""

    def offset(line: int, column: int) -> int:
        source_line = text[starts[line - 1] : starts[line]]
        return starts[line - 1] + len(source_line.encode()[:column].decode())

    return offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]


def _comments(text: str) -> dict[int, str]:
    """Line number -> the comment on that line."""
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string
    return found


def _package_imports(node: ast.ImportFrom, moves: dict[str, str], comments: dict[int, str]) -> str | None:
    """`from guanxi.loyalty import a, b as c` split over the sub-packages, local names kept.

    A comment inside a parenthesised import (`x,  # noqa: F401 (registers ...)`) stays with its
    name, which then gets an import statement of its own; comments on lines of their own stay
    above the name that follows them."""
    groups: dict[str, list[str]] = {}
    single: list[str] = []
    changed = False
    multi_line = node.end_lineno != node.lineno
    lines_with_names = {alias.lineno for alias in node.names}
    previous = node.lineno
    for alias in node.names:
        local = alias.asname or alias.name
        if alias.name in moves:
            package, new = moves[alias.name].split(".")
            module, name = f"{LOYALTY}.{package}", new
            changed = True
        else:
            module, name = LOYALTY, alias.name
        imported = name if name == local else f"{name} as {local}"
        above = [comments[r] for r in range(previous + 1, alias.lineno) if r in comments and r not in lines_with_names]
        trailing = comments.get(alias.lineno) if multi_line else None
        previous = alias.lineno
        if above or trailing:
            single += above
            single.append(f"from {module} import {imported}" + (f"  {trailing}" if trailing else ""))
        else:
            groups.setdefault(module, []).append(imported)
    if not changed:
        return None
    indent = " " * node.col_offset
    lines = [f"from {module} import {', '.join(names)}" for module, names in groups.items()] + single
    return f"\n{indent}".join(lines)


def _handler_pins(tree: ast.AST, old_module: str, text: str, starts: list[int]) -> list[tuple[int, int, str]]:
    """Insert `name="<old path>"` into every `@outbox.handles(...)` that has none."""
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and _is_handles(decorator.func)):
                continue
            if any(k.arg == "name" for k in decorator.keywords):
                continue
            _, end = _span(decorator, text, starts)
            edits.append((end - 1, end - 1, f', name="{old_module}.{node.name}"'))
    return edits


def _is_handles(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "handles") or (
        isinstance(func, ast.Name) and func.id == "handles"
    )


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def rewrite_text(text: str, plan: Plan, *, python: bool, old_module: str | None = None) -> str:
    moves, module_map = plan.moves, plan.module_map()
    edits: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    if python:
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            warn(f"cannot parse ({exc}); only dotted paths rewritten")
            tree = None
        if tree is not None:
            starts = _line_starts(text)
            comments = _comments(text)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == LOYALTY:
                    new = _package_imports(node, moves, comments)
                    if new is not None:
                        start, end = _span(node, text, starts)
                        if not text[start:end].startswith("from"):
                            raise SystemExit(f"offsets do not match the source near line {node.lineno}")
                        edits.append((start, end, new))
                        taken.append((start, end))
                elif isinstance(node, ast.ImportFrom) and node.level and node.module is None:
                    warn(f"relative import at line {node.lineno} left as it is")
            if old_module is not None:
                edits += _handler_pins(tree, old_module, text, starts)

    def outside(pos: int) -> bool:
        return not any(start <= pos < end for start, end in taken)

    for pattern, fmt in (
        (DOTTED, "{}"),
        (SRC_PATH, "guanxi/{}.py"),
        (SHORT_PATH, "loyalty/{}.py"),
        (SHORT_DOTTED, "loyalty.{}"),
    ):
        for match in pattern.finditer(text):
            old = match.group(1)
            if old in moves and outside(match.start()):
                new = moves[old]
                if fmt == "{}":
                    value = module_map[f"{LOYALTY}.{old}"]
                elif fmt.startswith("guanxi/"):
                    value = f"guanxi/loyalty/{new.replace('.', '/')}.py"
                elif fmt.startswith("loyalty/"):
                    value = f"loyalty/{new.replace('.', '/')}.py"
                else:
                    value = f"loyalty.{new}"
                edits.append((match.start(), match.end(), value))
    return _apply(text, edits)


# ---------------------------------------------------------------------------------------------
# customers/merge.py -> customers/merge/


def _statement_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


BANNER = re.compile(r"^# -{20,}\n(#[^\n]*\n)?", re.MULTILINE)


def plan_merge_split(root: Path, config: dict) -> dict[Path, str]:
    """The files of customers/merge/ (path -> content), computed from customers/merge.py."""
    spec = config["customers_merge"]
    source = root / spec["source"]
    if not source.exists():
        return {}
    text = source.read_text()
    tree = ast.parse(text)
    starts = _line_starts(text)
    body = tree.body
    docstring = ast.get_docstring(tree, clean=False)
    if docstring is None:
        raise SystemExit(f"{source} has no module docstring")
    imports = [n for n in body[1:] if isinstance(n, ast.Import | ast.ImportFrom)]
    header = text[_span(imports[0], text, starts)[0] : _span(imports[-1], text, starts)[1]]
    owner = {name: module for module, m in spec["modules"].items() for name in m["names"]}
    shared = set(spec["shared"])

    parts: dict[str, list[str]] = {module: [] for module in spec["modules"]}
    uses: dict[str, set[str]] = {module: set() for module in spec["modules"]}
    registers: set[str] = set()  # parts with a top-level call (a registration) to run on import
    shared_text: dict[str, str] = {}
    previous_end = _span(imports[-1], text, starts)[1]
    current: str | None = None
    unassigned = []
    for node in body[1 + len(imports) :]:
        first_line = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        start = starts[first_line - 1]
        end = _span(node, text, starts)[1]
        chunk = BANNER.sub("", text[previous_end:start]).strip("\n")
        segment = (chunk + "\n" if chunk else "") + text[start:end]
        previous_end = end
        names = _statement_names(node)
        if names and all(n in shared for n in names):
            for n in names:
                shared_text[n] = segment
            continue
        targets = {owner[n] for n in names if n in owner}
        unassigned += [n for n in names if n not in owner]
        if len(targets) > 1:
            raise SystemExit(f"one statement defines names of several modules: {names}")
        current = targets.pop() if targets else current
        if current is None:
            raise SystemExit(f"no module for the statement at line {node.lineno}")
        parts[current].append(segment)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            registers.add(current)
        uses[current] |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    if unassigned:
        raise SystemExit(f"{source}: add these names to [customers_merge] in {MAPPING.name}: {unassigned}")

    package = spec["package"]
    directory = source.with_suffix("")
    files: dict[Path, str] = {}
    deps: dict[str, set[str]] = {}
    for module, m in spec["modules"].items():
        own = set(m["names"])
        needed: dict[str, list[str]] = {}
        for name in sorted(uses[module] - own):
            if name in owner:
                needed.setdefault(owner[name], []).append(name)
        deps[module] = set(needed)
        sibling_imports = "".join(f"from {package}.{o} import {', '.join(ns)}\n" for o, ns in sorted(needed.items()))
        copies = "".join(shared_text[n] + "\n" for n in spec["shared"] if n in uses[module])
        about = "\n".join(_wrap(m["about"]))
        content = f'"""{about}"""\n\n{header}\n{sibling_imports}\n{copies}\n\n' + "\n\n\n".join(parts[module]) + "\n"
        files[directory / f"{module}.py"] = content
    _refuse_cycles(deps)
    public = {m: [n for n in spec["modules"][m]["names"] if not n.startswith("_")] for m in spec["modules"]}
    for name in spec.get("reexport", []):  # from the first part that uses it
        public[next(m for m in spec["modules"] if name in uses[m])].append(name)
    reexports = "".join(f"from {package}.{m} import {', '.join(ns)}\n" for m, ns in public.items() if ns)
    # A part with no public name may still register something when imported (the 360 section).
    reexports += "".join(
        f"from {package} import {m} as _{m}  # noqa: F401  (registers on import)\n"
        for m, ns in public.items()
        if not ns and m in registers
    )
    names = sorted(n for ns in public.values() for n in ns)
    all_list = "".join(f'    "{n}",\n' for n in names)
    init = f'"""{docstring}"""\n\n{reexports}\n__all__ = [\n{all_list}]\n'
    files[directory / "__init__.py"] = init
    return files


def write_merge_split(root: Path, config: dict, files: dict[Path, str]) -> list[Path]:
    if not files:
        return []
    source = root / config["customers_merge"]["source"]
    _git(root, "rm", "--quiet", str(source.relative_to(root)))
    source.with_suffix("").mkdir()
    for path, content in files.items():
        path.write_text(content)
    return list(files)


def _refuse_cycles(deps: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == 1:
            raise SystemExit(f"the merge modules would import each other in a cycle: {[*path, module]}")
        if state.get(module) == 2:
            return
        state[module] = 1
        for dep in deps[module]:
            visit(dep, [*path, module])
        state[module] = 2

    for module in deps:
        visit(module, [])


# ---------------------------------------------------------------------------------------------
# Contracts and docs


def contracts(config: dict) -> str:
    loyalty = config["loyalty"]
    order = " > ".join(layer.replace(" | ", ", ").replace(" : ", ", ") for layer in loyalty["layers"][1:])
    layers = "".join(f'  "{layer}",\n' for layer in loyalty["layers"])
    ignores = "".join(f'  # {rule["why"]}\n  "{rule["import"]}",\n' for rule in loyalty["ignore_imports"])
    pure = ", ".join(f'"{LOYALTY}.{p}"' for p in loyalty["pure"])
    return f"""
[[tool.importlinter.contracts]]
name = "Loyalty's sub-packages depend one way: {order}"
type = "layers"
containers = ["{LOYALTY}"]
exhaustive = true
layers = [
{layers}]
ignore_imports = [
{ignores}]

[[tool.importlinter.contracts]]
name = "Loyalty's rules sub-package imports no database or web code"
type = "forbidden"
source_modules = [{pure}]
forbidden_modules = ["sqlalchemy", "fastapi", "nicegui", "guanxi.kit.db"]
"""


def loyalty_listing(root: Path, config: dict) -> str:
    loyalty = config["loyalty"]
    indent = " " * 21
    lines = [
        "Loyalty is the largest domain. It is split into sub-packages by sub-domain, each with the",
        "shape above (models, schemas, services, api where it has them); a sub-package imports only",
        "those below it in this list (import-linter checks it), and the modules at the root join",
        "them together:",
        "",
        "```",
        "loyalty/",
        "  merge.py  timeline.py  handlers.py  tasks.py",
        f"{indent}loyalty's part in customer merges and in the 360 timeline, every outbox",
        f"{indent}handler, the daily steps (the first step of jobs.schedule)",
    ]
    for layer in loyalty["layers"][1:]:
        for name in re.split(r" [|:] ", layer):
            spec = loyalty[name]
            present = [
                new for new in spec["modules"].values() if (root / "src/guanxi/loyalty" / name / f"{new}.py").exists()
            ]
            lines.append(f"  {name + '/':<19}{spec['summary']}")
            lines += [f"{indent}{line}" for line in _wrap("  ".join(f"{m}.py" for m in present), 78)]
    lines += [
        "```",
        "",
        "Two reads go against that order and are listed as exceptions in the contract: tiers sum",
        "qualifying spend from the orders table, and the program's settings check its refund policy",
        "against the policies the ledger implements. `scripts/split_packages.toml` records where each",
        "module of the former flat folder went.",
    ]
    return "\n".join(lines) + "\n"


def rewrite_architecture(root: Path, config: dict) -> None:
    path = root / "docs/architecture.md"
    if not path.exists():
        return
    text = path.read_text()
    pattern = re.compile(r"(## The loyalty domain\n\n)(.*?```\n.*?```\n)", re.DOTALL)
    if pattern.search(text) is None:
        warn("docs/architecture.md: no loyalty listing found to replace")
    else:
        text = pattern.sub(lambda m: m.group(1) + loyalty_listing(root, config), text, count=1)
    path.write_text(text)


def apply_doc_replacements(root: Path, config: dict) -> None:
    for item in config.get("docs", {}).get("replace", []):
        path = root / item["file"]
        text = path.read_text() if path.exists() else ""
        if item["old"] in text:
            path.write_text(text.replace(item["old"], item["new"], 1))
        elif item["new"] not in text:
            warn(f"{item['file']}: text to replace not found: {item['old'][:60]!r}...")


# ---------------------------------------------------------------------------------------------
# Running it


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout  # noqa: S603, S607


def files_to_rewrite(root: Path) -> list[Path]:
    listed = _git(root, "ls-files", "--", *REWRITE_ROOTS, *REWRITE_FILES)
    paths = []
    for name in sorted(set(listed.split("\n")) - {""}):
        path = root / name
        if name in SELF or not path.is_file() or (path.suffix not in TEXT_SUFFIXES and path.name != "Makefile"):
            continue
        paths.append(path)
    return paths


def _ruff(root: Path) -> str | None:
    here = Path(sys.executable).parent / "ruff"
    return str(here) if here.exists() else shutil.which("ruff")


def tidy(root: Path, changed: list[Path], merge_files: list[Path]) -> None:
    ruff = _ruff(root)
    if ruff is None:
        warn("ruff not found: imports are not sorted nor lines wrapped")
        return
    names = [str(p.relative_to(root)) for p in changed if p.suffix == ".py" and p.exists()]
    merge = [str(p.relative_to(root)) for p in merge_files]
    if merge:  # each part starts with the whole original import block: drop what it does not use
        subprocess.run([ruff, "check", "--quiet", "--select", "F401,I001,RUF022", "--fix", *merge], cwd=root)  # noqa: S603
    if names:
        subprocess.run([ruff, "check", "--quiet", "--select", "I001", "--fix", *names], cwd=root)  # noqa: S603
        subprocess.run([ruff, "format", "--quiet", *names], cwd=root, check=True)  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", nargs="?", default=".", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="print the moves and change nothing")
    parser.add_argument("--no-format", action="store_true", help="do not run ruff on the changed files")
    args = parser.parse_args(argv)
    root = args.checkout.resolve()
    config = tomllib.loads(MAPPING.read_text())
    plan = make_plan(root, config)
    merge_source = root / config["customers_merge"]["source"]
    for old, new in sorted(plan.moves.items()):
        print(f"loyalty/{old}.py -> loyalty/{new.replace('.', '/')}.py")
    if merge_source.exists():
        print(f"{config['customers_merge']['source']} -> {merge_source.with_suffix('').relative_to(root)}/")
    if args.dry_run:
        return 0
    if not plan.moves and not merge_source.exists():
        print("nothing to do: the tree is already split")
        return 0
    if _git(root, "status", "--porcelain", "--untracked-files=no").strip():
        raise SystemExit("the checkout has uncommitted changes: commit them first")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", "src", "tests", "benchmarks").split()
    for name in untracked:
        warn(f"{name} is not committed: it is left as it is (commit it and run on a fresh checkout)")
    if "name: str | None = None" not in (root / "src/guanxi/kit/outbox.py").read_text():
        raise SystemExit("kit/outbox.py cannot pin handler names yet (outbox.handles(topic, name=...))")

    merge_split = plan_merge_split(root, config)  # before anything moves: it may refuse
    candidates = files_to_rewrite(root)
    moved_from = {plan.loyalty_dir / f"{old}.py": old for old in plan.moves}
    for package, spec in packages(config).items():
        directory = plan.loyalty_dir / package
        if any(new.startswith(f"{package}.") for new in plan.moves.values()) and not directory.exists():
            directory.mkdir()
            about = "\n".join(_wrap(spec["about"]))
            (directory / "__init__.py").write_text(f'"""{about}"""\n')
    new_paths: dict[Path, Path] = {}
    created = [plan.loyalty_dir / p / "__init__.py" for p in packages(config) if (plan.loyalty_dir / p).is_dir()]
    for old, new in plan.moves.items():
        source, target = plan.loyalty_dir / f"{old}.py", plan.loyalty_dir / f"{new.replace('.', '/')}.py"
        _git(root, "mv", str(source.relative_to(root)), str(target.relative_to(root)))
        new_paths[source] = target

    changed: list[Path] = []
    for path in candidates:
        current = new_paths.get(path, path)
        old_module = f"{LOYALTY}.{moved_from[path]}" if path in moved_from else None
        text = current.read_text()
        new = rewrite_text(text, plan, python=current.suffix == ".py", old_module=old_module)
        if new != text:
            current.write_text(new)
            changed.append(current)
    merge_files = write_merge_split(root, config, merge_split)

    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    if "Loyalty's sub-packages depend one way" not in text:
        pyproject.write_text(text.rstrip("\n") + "\n" + contracts(config))
    rewrite_architecture(root, config)
    apply_doc_replacements(root, config)
    if not args.no_format:
        tidy(root, changed + merge_files, merge_files)
    _git(root, "add", "--update", "--", *REWRITE_ROOTS, *REWRITE_FILES)
    _git(root, "add", "--", *(str(p.relative_to(root)) for p in [*created, *merge_files]))
    print(f"moved {len(plan.moves)} modules, rewrote {len(changed)} files; review with `git diff --cached --stat -M`")
    return 0


def _wrap(text: str, width: int = 96) -> list[str]:
    """Lines of at most `width` characters, broken at spaces (a run of two spaces is kept)."""
    separator = "  " if "  " in text else " "
    words, lines, line = text.split(separator) if separator == "  " else text.split(), [], ""
    for word in words:
        if line and len(line) + len(separator) + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line}{separator}{word}" if line else word
    return [*lines, line]


if __name__ == "__main__":
    sys.exit(main())
