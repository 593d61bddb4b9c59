"""Action classes: what a reviewer counts. A replacement is split by order, because delete-first means a window
with no resource (and, for data, nothing to fall back to); import and move are classes of their own, on top of
whatever the resource's actions are."""

from tools.plan_report.model import Change

# Summary key -> label, in the order of the summary table.
CLASSES: dict[str, str] = {
    "create": "create",
    "update": "update",
    "replace_delete_before_create": "replace (delete, then create)",
    "replace_create_before_destroy": "replace (create, then delete)",
    "delete": "delete",
    "import": "import",
    "move": "move",
    "read": "read",
    "forget": "forget",
}
UNRECOGNISED = "unrecognised"

_BY_ACTIONS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("no-op",): (),
    ("create",): ("create",),
    ("update",): ("update",),
    ("delete", "create"): ("replace_delete_before_create",),
    ("create", "delete"): ("replace_create_before_destroy",),
    ("delete",): ("delete",),
    ("read",): ("read",),
    ("forget",): ("forget",),
    # Terraform ≥ 1.9: a replacement whose old object is only removed from state (`removed` with destroy = false).
    ("create", "forget"): ("create", "forget"),
}


def classify(change: Change) -> tuple[str, ...]:
    """The classes of one change; () for a plain no-op."""
    classes = _BY_ACTIONS.get(change.actions, (UNRECOGNISED,))
    extra = (("import",) if change.importing else ()) + (("move",) if change.previous_address else ())
    return classes + extra


def deletes(change: Change) -> bool:
    """Whether the change destroys the existing object (a delete, or either order of replacement)."""
    return "delete" in change.actions


def label(classes: tuple[str, ...]) -> str:
    return " + ".join(CLASSES.get(c, "unrecognised actions") for c in classes)
