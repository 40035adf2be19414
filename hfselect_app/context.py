"""What the page is built from: the app's settings, whether the Hub is reachable, examples, base models.

Gathered once per :func:`hfselect_app.build_app` (not at import), and handed to the component
factories of the field table.
"""

from __future__ import annotations

from dataclasses import dataclass

from hfselect_core.embedding import BUNDLED_MODEL_ID
from hfselect_core.hub import hub_reachable
from hfselect_core.sources import esm_coverage

from .settings import AppSettings
from .targets import load_examples

ONLINE_DEFAULT_MODEL = "bert-base-multilingual-uncased"
STUDIO_DEFAULT_EXAMPLES = {"cpu": 500, "cuda": 2_000}


def default_base_model(online: bool) -> str:
    return ONLINE_DEFAULT_MODEL if online else BUNDLED_MODEL_ID


def base_model_choices(online: bool, token: str | None = None) -> list[tuple[str, str]]:
    """(label, id) per base model with ESM counts: bundled pools first, then the Hub when online."""
    coverage = esm_coverage(include_hub=online, token=token)
    choices: dict[str, str] = {}
    for model, count in coverage["bundled"].items():
        choices[model] = f"{model} ({count} bundled ESMs)"
    for model, count in coverage["hub"].items():
        prefix = choices.get(model)
        choices[model] = f"{prefix[:-1]}, {count} on the Hub)" if prefix else f"{model} ({count} ESMs on the Hub)"
    default = default_base_model(online)
    if default not in choices:
        choices[default] = default
    return [(label, model) for model, label in choices.items()]


def studio_default_examples(device: str | None = None) -> int:
    """Default training sample: 500 on CPU, 2,000 on a GPU (never above the deployment's cap)."""
    from hfselect_core.studio import default_device, studio_limits

    device = device or default_device()
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    return min(STUDIO_DEFAULT_EXAMPLES[kind], studio_limits().max_examples(device))


@dataclass(frozen=True)
class PageContext:
    """Everything the layout needs to know about the world when the page is built."""

    settings: AppSettings
    online: bool
    examples: tuple[dict, ...]
    model_choices: list[tuple[str, str]]
    default_model: str
    studio_examples: int

    @classmethod
    def detect(cls, settings: AppSettings | None = None) -> PageContext:
        online = hub_reachable()
        return cls(
            settings=settings or AppSettings.from_env(),
            online=online,
            examples=load_examples(),
            model_choices=base_model_choices(online),
            default_model=default_base_model(online),
            studio_examples=studio_default_examples(),
        )
