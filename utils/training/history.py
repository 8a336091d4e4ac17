"""History: what a training run did, epoch by epoch, in a form that prints, plots, saves and loads.

    history = fit(model, train, test)
    history                      # a table: one row per epoch
    history["val_acc"]           # [0.91, 0.95, ...], one value per epoch
    history.steps                # the training curve within epochs: [{"epoch": 0.05, "train_loss": ...}, ...]
    history.plot()               # loss and accuracy curves (a matplotlib Figure)
    history.save("run.json"); History.load("run.json")
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

# The columns of a record, in the order the table prints them. Accuracies are fractions in [0, 1].
COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")


@dataclass
class History:
    """Per-epoch records of a run plus a description of the run (model, data, recipe, device)."""

    records: list[dict] = field(default_factory=list)  # one dict per finished epoch, keys from COLUMNS
    # Points of the training curve within epochs: "epoch" (fractional, 0.05 = 5% of the first epoch done),
    # "train_loss" and "train_acc" over the batches since the previous point, and how many "images" those were.
    steps: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # plain JSON data: model, data, recipe, device, checkpoint
    loaded: bool = False  # True when fit found a finished checkpoint and loaded it instead of training

    def append(self, record: dict) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, column: str) -> list:
        """One column over all epochs, e.g. history["val_acc"]; None where an epoch has no value."""
        if column not in COLUMNS:
            raise KeyError(f"History has no column {column!r}; the columns are {', '.join(COLUMNS)}.")
        return [record.get(column) for record in self.records]

    @property
    def final(self) -> dict:
        """The last epoch's record (empty before the first epoch ends)."""
        return self.records[-1] if self.records else {}

    @property
    def best_val_acc(self) -> float | None:
        values = [v for v in self["val_acc"] if v is not None]
        return max(values) if values else None

    @property
    def total_seconds(self) -> float:
        return sum(self["seconds"])

    def plot(self, **options):
        """Loss and accuracy curves against the epoch: a matplotlib Figure with two panels."""
        from ..viz import plot_history  # imported here: plotting pulls in matplotlib, training does not need it

        return plot_history(self, **options)

    # --- saving and loading: JSON, so that a history can be read without torch or this package ----------

    def to_dict(self) -> dict:
        return {"records": self.records, "steps": self.steps, "meta": self.meta}

    @classmethod
    def from_dict(cls, state: dict) -> "History":
        return cls(records=list(state.get("records", [])), steps=list(state.get("steps", [])),
                   meta=dict(state.get("meta", {})))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "History":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no history at {path}; give the path that History.save wrote.")
        return cls.from_dict(json.loads(path.read_text()))

    # --- printing --------------------------------------------------------------------------------------

    def table(self) -> str:
        """A fixed-width table of the records, accuracies in percent."""
        present = [c for c in COLUMNS if any(r.get(c) is not None for r in self.records)]
        lines = ["  ".join(f"{c:>12}" for c in present)]
        for record in self.records:
            lines.append("  ".join(f"{_format(c, record.get(c)):>12}" for c in present))
        return "\n".join(lines)

    def __repr__(self) -> str:
        where = " (loaded from a checkpoint)" if self.loaded else ""
        head = f"History of {self.meta.get('model', 'a model')}: {len(self)} epochs{where}"
        return f"{head}\n{self.table()}" if self.records else head


def _format(column: str, value) -> str:
    if value is None:
        return "-"
    if column.endswith("_acc"):
        return f"{100 * value:.2f}%"
    if column == "lr":
        return f"{value:.3g}"
    if column == "images_per_s":
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4f}" if "loss" in column else f"{value:.1f}"
    return str(value)
