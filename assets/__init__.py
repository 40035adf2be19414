"""Files shipped with hfselect: the bundled ESM pool (esms/), the model card template, the example targets.

Installed, this folder is the package ``hfselect_core.assets`` (see pyproject.toml); code finds it
through ``hfselect_core.resources``.
"""
