"""Load and validate `config/chains.yaml` and `config/providers.yaml`.

Nothing here touches the database: `load_registry` either returns a fully validated
`Registry` or raises `RegistryError` listing every problem as `<file>: <key>: <problem>`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from chains.models import PeriodType, ProviderRole

DEFAULT_PERIOD_LENGTH_EPOCHS = 225
# The largest value of a PositiveIntegerField column (PostgreSQL integer).
DB_INTEGER_MAX = 2**31 - 1

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=50)]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=100)]
AdapterName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=100)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# YAML's "5", 5.0 and true would otherwise be taken for the integer 5 (or 1): a typo, not a value.
DbCount = Annotated[StrictInt, Field(ge=0, le=DB_INTEGER_MAX)]
JsonObject = dict[str, Any]


# Checks that know more than this layer (e.g. which options each adapter reads) register here:
# each takes a provider's adapter name and options and returns (key, problem) pairs.
ProviderCheck = Callable[[str, Mapping[str, Any]], list[tuple[str, str]]]
_provider_checks: list[ProviderCheck] = []


def register_provider_check(check: ProviderCheck) -> None:
    if check not in _provider_checks:
        _provider_checks.append(check)


def provider_problems(adapter: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the registered checks find wrong with a provider's adapter and options."""
    return [problem for check in _provider_checks for problem in check(adapter, options)]


class RegistryError(Exception):
    """The registry files are unusable; `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


SpecT = TypeVar("SpecT", bound=_Spec)


class ChainSpec(_Spec):
    name: Annotated[NonEmpty, StringConstraints(max_length=100)]
    period_type: PeriodType
    native_unit: Annotated[NonEmpty, StringConstraints(max_length=20)]
    native_decimals: StrictInt = Field(ge=0, le=36)
    display_symbol: Annotated[str, StringConstraints(max_length=12)] = ""
    finality_lag: DbCount
    period_length_epochs: Annotated[DbCount, Field(ge=1)] | None = None
    is_active: StrictBool = True
    parameters: JsonObject = Field(default_factory=dict)
    providers: dict[ProviderRole, list[Slug]] = Field(default_factory=dict)

    @field_validator("providers")
    @classmethod
    def _no_repeated_provider(cls, value: dict[ProviderRole, list[str]]) -> dict[ProviderRole, list[str]]:
        for role, names in value.items():
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"{role.value} lists {', '.join(repeated)} more than once")
        return value

    @model_validator(mode="after")
    def _period_length_fits_period_type(self) -> ChainSpec:
        if self.period_type is PeriodType.BLOCK_WINDOW:
            if self.period_length_epochs is None:
                object.__setattr__(self, "period_length_epochs", DEFAULT_PERIOD_LENGTH_EPOCHS)
        elif self.period_length_epochs is not None:
            raise ValueError("period_length_epochs applies only to BLOCK_WINDOW chains")
        return self


class ProviderSpec(_Spec):
    type: ProviderRole
    adapter: AdapterName
    base_url: AnyHttpUrl | None = None
    api_version: Annotated[str, StringConstraints(max_length=20)] | None = None
    api_key_env: EnvVarName | None = None
    rate_limit_per_minute: Annotated[DbCount, Field(ge=1)] | None = None
    timeout_seconds: StrictInt = Field(default=30, ge=1, le=600)
    enabled: StrictBool = True
    options: JsonObject = Field(default_factory=dict)


class ChainsFile(_Spec):
    chains: dict[Slug, ChainSpec] = Field(min_length=1)


class ProvidersFile(_Spec):
    providers: dict[Slug, ProviderSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Registry:
    chains: dict[str, ChainSpec]
    providers: dict[str, ProviderSpec]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, label: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError([f"{label}: file not found"]) from None
    except UnicodeDecodeError as exc:
        byte, line = exc.object[exc.start : exc.start + 1].hex(), exc.object.count(b"\n", 0, exc.start) + 1
        raise RegistryError([f"{label}: line {line}: not UTF-8 text (byte 0x{byte})"]) from None
    except OSError as exc:
        raise RegistryError([f"{label}: cannot read the file ({exc.strerror})"]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise RegistryError([f"{label}: {where}invalid YAML: {_one_line(exc.problem or exc)}"]) from None
    except yaml.YAMLError as exc:
        raise RegistryError([f"{label}: invalid YAML: {_one_line(exc)}"]) from None
    except RecursionError:
        raise RegistryError([f"{label}: invalid YAML: nested too deeply"]) from None


def _one_line(problem: object) -> str:
    return " ".join(str(problem).split())


def _storable_problems(value: Any, key: str, label: str) -> list[str]:
    """What PostgreSQL would refuse to store (text and JSON columns), or JSON cannot express, by key:
    NUL characters, NaN/infinity, non-string mapping keys and YAML's dates, binaries and sets."""
    where = key or "(top level)"
    if isinstance(value, str):
        return [f"{label}: {where}: contains a NUL character"] if "\x00" in value else []
    if isinstance(value, bool | int | None):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{label}: {where}: {value} is not a finite number"]
    if isinstance(value, list):
        return [
            problem
            for index, item in enumerate(value)
            for problem in _storable_problems(item, f"{key}.{index}" if key else str(index), label)
        ]
    if isinstance(value, dict):
        problems = []
        for name, item in value.items():
            path = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                problems.append(f"{label}: {path}: keys must be strings, not {type(name).__name__}")
            problems += _storable_problems(name, path, label) + _storable_problems(item, path, label)
        return problems
    return [f"{label}: {where}: a {type(value).__name__} is not allowed here (quote it as a string)"]


def _describe(error: ValidationError, label: str) -> list[str]:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = _one_line(item["msg"].removeprefix("Value error, "))
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{label}: {key}: {message}")
    return problems


def _parse(model: type[SpecT], path: Path, label: str) -> SpecT:
    document = _read_yaml(path, label)
    if not isinstance(document, dict):
        top_key = next(iter(model.model_fields))
        raise RegistryError([f"{label}: expected a mapping with the key '{top_key}'"])
    try:
        problems = _storable_problems(document, "", label)
    except RecursionError:
        raise RegistryError(
            [f"{label}: invalid YAML: nested too deeply (or an alias refers to itself)"]
        ) from None
    if problems:
        raise RegistryError(problems)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise RegistryError(_describe(exc, label)) from None


def _label(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_registry(chains_file: Path, providers_file: Path) -> Registry:
    """Parse and validate both files, and check that every provider a chain names exists."""
    problems: list[str] = []
    chains_label, providers_label = _label(chains_file), _label(providers_file)
    chains = providers = None
    try:
        chains = _parse(ChainsFile, chains_file, chains_label)
    except RegistryError as exc:
        problems += exc.problems
    try:
        providers = _parse(ProvidersFile, providers_file, providers_label)
    except RegistryError as exc:
        problems += exc.problems
    if providers is not None:
        problems += [
            f"{providers_label}: providers.{name}.{key}: {_one_line(problem)}"
            for name, provider in providers.providers.items()
            for key, problem in provider_problems(provider.adapter, provider.options)
        ]
    if chains is not None and providers is not None:
        for chain_id, chain in chains.chains.items():
            for role, names in chain.providers.items():
                problems += [
                    f"{chains_label}: chains.{chain_id}.providers.{role.value}: "
                    f"unknown provider '{name}' (not in {providers_label})"
                    for name in names
                    if name not in providers.providers
                ]
    if problems:
        raise RegistryError(problems)
    assert chains is not None and providers is not None  # noqa: S101 (narrowing after the checks above)
    return Registry(chains=dict(chains.chains), providers=dict(providers.providers))
