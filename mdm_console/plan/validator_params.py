"""The `params` table of each validator kind (DESIGN section 4). Names are a contract."""

from __future__ import annotations

import re

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SystemParams(Params):
    min_cpus: Annotated[int, Field(ge=1)] | None = None
    min_memory_gb: Annotated[float, Field(ge=0)] | None = None
    min_disk_free_gb: Annotated[float, Field(ge=0)] | None = None
    disk_path: str | None = None
    max_cpu_percent: Annotated[float, Field(gt=0, le=100)] | None = None
    max_load_per_core: Annotated[float, Field(gt=0)] | None = None  # 1-minute load average / logical CPUs
    max_memory_percent: Annotated[float, Field(gt=0, le=100)] | None = None


class CommandParams(Params):
    argv: Annotated[list[str], Field(min_length=1)] | None = None
    shell: Annotated[str, Field(min_length=1)] | None = None
    cwd: str | None = None
    env: dict[str, str] = {}
    expect_exit: int = 0
    expect_stdout_regex: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> CommandParams:
        if (self.argv is None) == (self.shell is None):
            raise ValueError("give exactly one of 'argv' (no shell) or 'shell'")
        if self.expect_stdout_regex is not None:
            try:
                re.compile(self.expect_stdout_regex)
            except re.error as exc:
                raise ValueError(f"expect_stdout_regex does not compile: {exc}") from None
        return self


class HttpParams(Params):
    url: Annotated[str, Field(pattern=r"^https?://")]
    method: Literal["GET", "HEAD", "POST", "PUT"] = "GET"
    headers: dict[str, str] = {}
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    expect_json: dict[str, Any] = {}


Dsn = Annotated[str, Field(pattern=r"^(duckdb|sqlite):.+")]


class SqlParams(Params):
    dsn: Dsn
    query: Annotated[str, Field(min_length=1)]
    expect_rows: Annotated[int, Field(ge=0)] | None = None
    expect_scalar: Any = None
    expect_scalar_min: float | None = None
    expect_scalar_max: float | None = None

    @model_validator(mode="after")
    def _range(self) -> SqlParams:
        lo, hi = self.expect_scalar_min, self.expect_scalar_max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("expect_scalar_min is above expect_scalar_max: no value could pass")
        return self


class CompareParams(Params):
    v1_dsn: Dsn
    v2_dsn: Dsn
    query: str | None = None
    v1_query: str | None = None
    v2_query: str | None = None
    key_columns: Annotated[list[str], Field(min_length=1)]
    tolerance: dict[str, Annotated[float, Field(ge=0)]] = {}

    @model_validator(mode="after")
    def _queries(self) -> CompareParams:
        if self.query is None and (self.v1_query is None or self.v2_query is None):
            raise ValueError("give 'query', or both 'v1_query' and 'v2_query'")
        return self


class FileParams(Params):
    path: Annotated[str, Field(min_length=1)]
    must_exist: bool = True
    max_mode: Annotated[str, Field(pattern=r"^0?[0-7]{3,4}$")] | None = None
    parse: Literal["json", "toml"] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None


class JunitParams(Params):
    path: Annotated[str, Field(min_length=1)]
    min_tests: Annotated[int, Field(ge=0)] = 1


class FlagsParams(Params):
    pass


class PythonParams(Params):
    callable: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]
    kwargs: dict[str, Any] = {}


VALIDATOR_PARAMS: dict[str, type[Params]] = {
    "system": SystemParams,
    "command": CommandParams,
    "http": HttpParams,
    "sql": SqlParams,
    "compare": CompareParams,
    "file": FileParams,
    "junit": JunitParams,
    "flags": FlagsParams,
    "python": PythonParams,
}
