"""Model cards for ESMs, rendered from ``assets/esm_card_template.md``.

The YAML metadata is what the Hub search and existing ESM tools rely on: license, the dataset,
the base model, and the tags ``embedding_space_map`` and ``BaseLM:<base model>``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .esm import ESMConfig
from .sources import assets_dir

if TYPE_CHECKING:
    from .training import FitReport

TEMPLATE_NAME = "esm_card_template.md"


def card_metadata(config: ESMConfig) -> dict:
    return {
        "license": "apache-2.0",
        "datasets": [config.task_id],
        "base_model": config.base_model_name,
        "tags": ["embedding_space_map", f"BaseLM:{config.base_model_name}"],
        "library_name": "hfselect",
    }


def _yaml(metadata: dict) -> str:
    # JSON scalars are valid YAML; this keeps ids with ':' or '/' safely quoted.
    lines = []
    for key, value in metadata.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"- {json.dumps(item)}" for item in value)
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines)


def _number(value, digits: int = 6) -> str:
    if value is None:
        return "not measured"
    try:
        return f"{float(value):.{digits}g}"
    except (TypeError, ValueError):
        return str(value)


def render_card(config: ESMConfig, report: FitReport | None = None, notes: str = "") -> str:
    """The README.md of an ESM folder."""
    from jinja2 import Environment, StrictUndefined

    template = (assets_dir() / TEMPLATE_NAME).read_text(encoding="utf-8")
    # to_dict() omits an unknown pooling, and older configs have no head learning rate.
    fields = {"pooling": "not recorded", "lm_head_learning_rate": None, **config.to_dict()}
    method = (report.method if report else None) or config.extra.get("esm_fit_method")
    if method == "sgd":
        fit = (
            f"AdamW on mean squared error, {config.esm_num_epochs} epochs, batch size {config.esm_batch_size}, "
            f"learning rate {config.esm_learning_rate}, weight decay {config.esm_weight_decay}"
        )
    else:
        fit = "closed-form least squares in float64 (a tiny ridge on the weights, none on the bias)"
        ridge = config.extra.get("esm_ridge")
        if isinstance(ridge, (int, float)) and ridge > 1e-4:
            fit = (
                f"closed-form least squares in float64 (a ridge of {_number(ridge, 3)} times the mean eigenvalue "
                "of the embeddings' second-moment matrix on the weights, none on the bias)"
            )
        outside = config.extra.get("esm_num_fit_texts_outside_task")
        if isinstance(outside, int) and outside > 0:
            fit += (
                f", on the task's texts plus {outside} texts from other tasks (embedded by both models), so the "
                "map also holds for texts unlike the task's own"
            )
    fields.update(
        card_data=_yaml(card_metadata(config)),
        task_type=config.extra.get("task_type"),
        fit_description=fit,
        mse=_number(report.mse if report else config.extra.get("esm_mse")),
        r2=_number(report.r2 if report else config.extra.get("esm_r2"), 4),
        notes=notes.strip(),
    )
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(template).render(**fields)
