"""Import rules of ``src/sightsound``, read from the source with :mod:`ast` (nothing is imported).

(a) No import cycle among the package's modules; imports inside functions count as much as those
    at the top of a module (a lazy import hides a cycle, it does not remove it).
(b) The library never imports the command-line layer (``sightsound.cli``, ``sightsound.commands``).
(c) The method's modules (the stages a record travels through) import neither the toy world
    (``sightsound.synth``, ``sightsound.mini``) nor a later stage.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "sightsound"

# The method, in the order a record travels: a module may import its own stage and earlier ones.
# A name matches the module itself and everything below it (``sightsound.evaluate`` = the package);
# the longest matching name decides (``sightsound.train.grpo`` is later than the rest of ``train``,
# whose shared plumbing both trainers use).
METHOD_STAGES: dict[str, int] = {
    "sightsound.teacher": 1,
    "sightsound.verify": 2,
    "sightsound.sft_data": 3,
    "sightsound.train": 4,
    "sightsound.train.sft": 4,
    "sightsound.train.grpo": 5,
    "sightsound.evaluate": 6,
}
# Modules every stage may use, which import no stage themselves: the stage I/O and the artefact
# readers and writers. Add a module here when one is created; names that do not exist are ignored.
METHOD_SHARED: tuple[str, ...] = ("sightsound.artefacts", "sightsound.stage_io")
TOY_WORLD = ("sightsound.synth", "sightsound.mini")
# What runs the stages (above every stage): the method never reaches up into it.
ORCHESTRATION = ("sightsound.pipeline", "sightsound.stage_config", "sightsound.stage_figures", "sightsound.demo",
                 "sightsound.report")
COMMAND_LINE = ("sightsound.cli", "sightsound.commands")
COMMAND_LINE_MODULES = ("sightsound.cli", "sightsound.commands", "sightsound.__main__")

# Known violations: none. Each entry would be (importer, imported) as the test reports it; an entry
# that no longer occurs fails the test below, so a list can only shrink.
KNOWN_CYCLES: set[frozenset[str]] = set()
KNOWN_CLI_IMPORTS: set[tuple[str, str]] = set()
KNOWN_METHOD_IMPORTS: set[tuple[str, str]] = set()
# Commands whose add_arguments/run live in a library module.
KNOWN_COMMANDS_OUTSIDE: set[str] = set()


# ------------------------------------------------------------------------------------------ the graph
def _module_names() -> dict[str, Path]:
    names = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str) -> set[str]:
    """The package's modules ``name`` imports, anywhere in its body."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, node)
            # `from pkg import sub` imports the submodule; `from mod import func` the module.
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE) and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _cycles() -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for root, imported in GRAPH.items():
        if root in index:
            continue
        work = [(root, iter(sorted(imported)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(frozenset(component))
    return out


def _stage_rank(name: str) -> int | None:
    """The stage's place in METHOD_STAGES; 0 for the shared stage I/O; None outside the method."""
    if _under(name, METHOD_SHARED):
        return 0
    matches = [p for p in METHOD_STAGES if _under(name, (p,))]
    return METHOD_STAGES[max(matches, key=len)] if matches else None


def _cli_imports() -> set[tuple[str, str]]:
    return {(m, t) for m, targets in GRAPH.items() if not _under(m, COMMAND_LINE_MODULES)
            for t in targets if _under(t, COMMAND_LINE)}


def _method_imports() -> set[tuple[str, str]]:
    bad = set()
    for m, targets in GRAPH.items():
        rank = _stage_rank(m)
        if rank is None:
            continue
        for t in targets:
            t_rank = _stage_rank(t)
            if _under(t, TOY_WORLD + ORCHESTRATION) or (t_rank is not None and t_rank > rank):
                bad.add((m, t))
    return bad


# ------------------------------------------------------------------------------------------- tests
def test_the_graph_sees_imports_inside_functions():
    # pipeline imports the stages inside its stage functions only
    assert {"sightsound.teacher", "sightsound.verify", "sightsound.evaluate.run"} <= GRAPH["sightsound.pipeline"]
    assert "sightsound.systems" in GRAPH["sightsound.evaluate.compare"]


def test_no_import_cycle():
    found = set(_cycles())
    assert found - KNOWN_CYCLES == set(), "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_the_library_never_imports_the_command_line():
    found = _cli_imports()
    assert found - KNOWN_CLI_IMPORTS == set()


def test_the_method_imports_neither_the_toy_world_nor_a_later_stage():
    found = _method_imports()
    assert found - KNOWN_METHOD_IMPORTS == set()


def _commands_outside() -> set[str]:
    from sightsound.cli import COMMANDS

    return {name for name, (module, _) in COMMANDS.items() if not _under(module, ("sightsound.commands",))}


def test_every_command_lives_in_the_command_line_layer():
    from sightsound.cli import COMMANDS

    assert _commands_outside() - KNOWN_COMMANDS_OUTSIDE == set()
    assert all(module in MODULES for module, _ in COMMANDS.values())


@pytest.mark.parametrize("known, found", [
    (KNOWN_CYCLES, _cycles), (KNOWN_CLI_IMPORTS, _cli_imports), (KNOWN_METHOD_IMPORTS, _method_imports),
    (KNOWN_COMMANDS_OUTSIDE, _commands_outside)], ids=["cycles", "cli", "method", "commands"])
def test_known_violations_still_occur(known, found):
    """An allowed violation that is gone must leave its list, so that it cannot come back unnoticed."""
    assert known - set(found()) == set()


# ------------------------------------------------------------------------------ one list of each thing
def test_the_student_prompt_styles_are_listed_once():
    import dataclasses
    import typing

    from sightsound import config, prompts
    from sightsound.evaluate import run

    styles = typing.get_args(prompts.StudentPromptStyle)
    assert tuple(prompts.STUDENT_PROMPTS) == tuple(prompts.STUDENT_PROMPT_DESCRIPTIONS) == styles
    hints = typing.get_type_hints(config.EvalConfig)
    assert typing.get_args(hints["prompt"]) == styles
    assert run.STUDENT_PROMPT_DESCRIPTIONS is prompts.STUDENT_PROMPT_DESCRIPTIONS
    assert [f.name for f in dataclasses.fields(config.EvalConfig)].count("prompt") == 1


def test_the_systems_are_listed_once():
    from sightsound import pipeline, systems
    from sightsound.evaluate import compare

    assert pipeline.SYSTEMS is systems.SYSTEMS and compare.SYSTEM_ORDER is systems.SYSTEMS
    assert set(pipeline.TRAINING) | set(systems.UNTRAINED) == set(systems.SYSTEMS)
