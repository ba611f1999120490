"""The parts of DEFT, registered by name: experts, vision backbones and LLMs.

The same pattern as the model registry (`deftmer.model.api.register_model`, timm's
``@register_model``), one level down: a part's module registers it when imported, and the
config names it (``model.experts``, ``model.vision``, ``model.llm``). Adding an expert or a
backbone is one decorated class, not a new branch in the model.

This module imports nothing heavy, so the config can check names without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from deftmer.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> part (a class or a builder) and a one-line description, for one kind of part."""

    def __init__(self, kind: str, config_key: str) -> None:
        self.kind = kind                  # e.g. "expert", in messages
        self.config_key = config_key      # the config key that names these parts, e.g. "model.experts"
        self._parts: dict[str, tuple[T, str]] = {}

    def register(self, name: str, description: str) -> Callable[[T], T]:
        """Decorator: register the decorated class or function under ``name``."""

        def deco(part: T) -> T:
            self._parts[name] = (part, description)
            return part

        return deco

    def __contains__(self, name: object) -> bool:
        return name in self._parts

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._parts)

    def descriptions(self) -> dict[str, str]:
        return {name: desc for name, (_, desc) in self._parts.items()}

    def get(self, name: str) -> T:
        """The part registered as ``name``; an unknown name is one `ConfigError` with the known ones."""
        if name not in self._parts:
            raise ConfigError(f"{self.config_key}: '{name}' is not a registered {self.kind}; "
                              f"registered: {', '.join(self._parts) or 'none'}")
        return self._parts[name][0]


#: DEFT's experts (`deftmer.model.experts`): ``Expert`` subclasses
EXPERTS: Registry[Any] = Registry("expert", "model.experts")
#: frozen image encoders (`deftmer.model.backbones`): classes built with no argument
VISION_BACKBONES: Registry[Any] = Registry("vision backbone", "model.vision")
#: language models (`deftmer.model.llm`): ``builder(seed) -> LoadedLLM``
LLMS: Registry[Any] = Registry("LLM", "model.llm")
