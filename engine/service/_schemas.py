"""Request and response bodies of the HTTP API (pydantic), with a limit on every field.

Units: see ``_units`` (bare numbers: temperatures degC, lengths m, durations s; or
``{"value": ..., "unit": ...}``). Times on a slab's clock are seconds since it was charged.
Array sizes are bounded here for the schema; the configured (lower) limits of the running
service are checked again in the routes with a message naming the limit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._units import Finite, QuantityIn

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
# A twin id is a safe token: a letter or digit first (so never "." or ".."), then letters,
# digits and _ . : - (64 characters at most).
TWIN_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
TwinIdText = Annotated[str, Field(pattern=TWIN_ID)]
# Free text (labels, reading ids): printable, no control characters (NUL breaks databases).
TEXT = r"^[^\x00-\x1f\x7f]*$"
TemperatureUnit = Literal["degC", "K", "degF"]
Sensor = Literal["pyrometer_top", "pyrometer_bottom", "thermocouple", "gas_top", "gas_bottom"]
Output = Literal["summary", "field", "stress"]
MAX_ASSETS, MAX_TIMES, MAX_READINGS, MAX_ZONES = 1024, 4096, 10000, 16
# Plausible ranges of the slab's and zones' numbers that the config layer does not bound
# (it bounds thickness and temperatures: steeltwin.engine.config.RANGES); the Open Inference
# Protocol route checks its tensors against the same numbers.
H_MAX = 2000.0  # W/(m^2 K), convection coefficient
SCALE_MIN, SCALE_MAX = 0.5, 2.0  # conductivity and capacity multipliers

VERSION = "1"  # the API version (OpenAPI info.version and the OIP server metadata)
WARNINGS = ("possible but suspicious inputs, e.g. a temperature that looks like kelvin given "
            "as degC (the same words as steeltwin-simulate's warnings)")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneIn(_Body):
    """One furnace zone, in travel order."""

    name: Name = Field(examples=["heating_1"])
    gas_temperature: QuantityIn = Field(description="gas temperature (degC if bare)",
                                        examples=[1200.0])
    gas_temperature_end: QuantityIn | None = Field(
        None, description="gas temperature at the zone's exit (degC if bare): the set-point "
        "ramps linearly inside the zone; null: constant")
    duration: QuantityIn = Field(description="residence time in the zone (s if bare)",
                                 examples=[2700.0])
    exchange_factor_top: Finite = Field(0.6, gt=0, le=1, description="radiation exchange "
                                        "factor phi of the top face")
    exchange_factor_bottom: Finite = Field(0.5, gt=0, le=1)
    h: Finite = Field(0.0, ge=0, le=H_MAX, description="convection coefficient, W/(m^2 K)")


class SlabIn(_Body):
    """A slab and its furnace schedule (1D through the thickness, EN 1993-1-2 steel)."""

    thickness: QuantityIn = Field(0.22, description="m if bare")
    material: Literal["carbon_steel", "stainless_steel"] = "carbon_steel"
    conductivity_scale: Finite = Field(1.0, ge=SCALE_MIN, le=SCALE_MAX)
    capacity_scale: Finite = Field(1.0, ge=SCALE_MIN, le=SCALE_MAX)
    initial_temperature: QuantityIn = Field(25.0, description="charging temperature "
                                            "(degC if bare)")
    zones: list[ZoneIn] = Field(min_length=1, max_length=MAX_ZONES)
    ramp_time: QuantityIn = Field(300.0, description="linear change between zones (s if bare)")


class PredictRequest(_Body):
    """Fields and summaries of slabs at requested times (s since charging)."""

    assets: list[SlabIn] = Field(min_length=1, max_length=MAX_ASSETS)
    times: list[QuantityIn] | None = Field(None, max_length=MAX_TIMES, description=(
        "requested times since charging (s if bare); default: every `every` to discharge"))
    every: QuantityIn = Field(600.0, description="output interval when `times` is absent")
    outputs: list[Output] = Field(["summary"], max_length=3)
    temperature_unit: TemperatureUnit = "degC"


class ModelInfo(BaseModel):
    name: str
    version: str
    kind: str
    cells: int
    step_seconds: float


class AssetPrediction(BaseModel):
    times_s: list[float]
    centre: list[float]
    surface_top: list[float]
    surface_bottom: list[float]
    mean: list[float]
    centre_spread: list[float] = Field(description="1 sigma, temperature difference")
    max_surface_centre: float = Field(description="largest surface - centre difference")
    provenance: dict[str, int] = Field(description="steps answered by each source")
    field: list[list[float]] | None = None
    field_spread: list[list[float]] | None = None
    stress_MPa: list[list[float]] | None = None
    max_utilisation: float | None = None


class PredictResponse(BaseModel):
    model: ModelInfo
    units: dict[str, str]
    assets: list[AssetPrediction]
    batch_size: int = Field(description="assets computed in the same compiled call")
    warnings: list[str] | None = Field(default=None, description=WARNINGS)


class TwinCreate(_Body):
    """A new twin: the slab as charged, the furnace schedule on its clock."""

    twin_id: TwinIdText | None = Field(None, description="default: a random id; a letter or "
                                       "digit, then letters, digits, _ . : - (<= 64)")
    slab: SlabIn
    charged_at: dt.datetime | None = Field(None, description="ISO 8601 with offset; default "
                                           "now. Readings with a timestamp count from it")
    label: str = Field("", max_length=128, pattern=TEXT)


class TwinInfo(BaseModel):
    twin_id: str
    label: str
    created_at: dt.datetime
    charged_at: dt.datetime
    time_s: float | None = Field(None, description="the twin's clock (None: not loaded)")
    readings: int | None = None
    warnings: list[str] | None = Field(default=None, description=WARNINGS)


class TwinList(BaseModel):
    twins: list[TwinInfo]


class ReadingIn(_Body):
    """One reading: ``time_s`` since charging or an ISO ``timestamp`` (exactly one)."""

    id: str = Field(min_length=1, max_length=128, pattern=TEXT, description="unique per "
                    "twin; a re-sent id with the same content is ignored (idempotent)")
    time_s: Finite | None = Field(None, ge=0, le=1e7)
    timestamp: dt.datetime | None = None
    sensor: Sensor
    value: Finite
    unit: str = Field("degC", max_length=16)
    depth: Finite | None = Field(None, ge=0, le=1e4, description="thermocouples: below the "
                                 "top face")
    depth_unit: str | None = Field("m", max_length=8, description="m, mm, cm, in (default m)")


class ReadingsIn(_Body):
    readings: list[ReadingIn] = Field(min_length=1, max_length=MAX_READINGS)


class ReadingsAck(BaseModel):
    stored: list[str] = Field(description="ids committed to the store (durable)")
    duplicates: list[str]
    conflicts: list[str] = Field(description="ids held with other content: refused")
    rejected: dict[str, str] = Field(description="rejected by the innovation gate, with why")
    assimilated: bool = Field(description="False: stored, assimilation still queued")
    time_s: float


class TwinState(BaseModel):
    twin_id: str
    time_s: float
    units: dict[str, str]
    centre: float
    centre_std: float
    surface_top: float
    surface_bottom: float
    mean: float
    surface_centre: float
    field_mean: list[float]
    field_std: list[float]
    exchange_scale: dict[str, float] = Field(
        description="exchange-factor multiplier per face: the median member's")
    exchange_scale_std: dict[str, float]
    exchange_scale_interval: dict[str, list[float]] = Field(
        description="5 % and 95 % quantiles of the multiplier per face (inside (0, 1] / "
                    "nominal)")
    initial_offset: float
    initial_offset_std: float
    max_utilisation: float
    alerts: list[str]
    readings: int
    rejected: dict[str, str]
    sources: list[str]


class ForecastRequest(_Body):
    """A forecast from the twin's estimate, under its schedule or another one (what-if)."""

    until: QuantityIn | None = Field(None, description="s since charging; default discharge")
    every: QuantityIn = Field(600.0)
    zones: list[ZoneIn] | None = Field(None, max_length=MAX_ZONES, description="what-if: "
                                       "the whole schedule from charging")
    outputs: list[Output] = Field(["summary"], max_length=3)
    temperature_unit: TemperatureUnit = "degC"


class AdviseRequest(_Body):
    """Zone set-points (and optionally the soak time) for a discharge target."""

    target_mean: QuantityIn = Field(description="discharge mean temperature (degC if bare)",
                                    examples=[1200.0])
    max_delta: Finite = Field(30.0, gt=0, le=500, description="K, through the thickness")
    gas_min: QuantityIn = Field(900.0)
    gas_max: QuantityIn = Field(1320.0)
    soak_min: QuantityIn | None = None
    soak_max: QuantityIn | None = None
    iterations: int = Field(100, ge=1, le=1000)


class AdviceOut(BaseModel):
    zones: list[dict[str, Any]]
    units: dict[str, str]
    discharge_mean: float
    discharge_delta: float
    discharge_time_s: float
    heat_demand_J_per_m2: float
    initial_heat_demand_J_per_m2: float
    initial_discharge_mean: float
    iterations: int


class KeyCreate(_Body):
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, max_length=3)
    label: str = Field("", max_length=128, pattern=TEXT)


class KeyOut(BaseModel):
    key_id: str
    tenant: str
    scopes: list[str]
    label: str
    created_at: float
    key: str | None = Field(None, description="the secret; shown once, at creation")


class FieldError(BaseModel):
    field: str = Field(description="the path of the value as the request wrote it, e.g. "
                       "assets[0].thickness.unit; a query or path parameter by its name; "
                       "empty for the whole body")
    value: Any = Field(description="the value as sent (JSON; null when missing; past 200 "
                       "characters its JSON text, shortened)")
    error: str


class Problem(BaseModel):
    """An error (every 4xx and 5xx), as RFC 9457 problem details
    (``application/problem+json``): what was wrong and how to fix it."""

    type: str = Field("about:blank", description="about:blank: the status says what it is")
    title: str = Field(description="the status phrase", examples=["Unprocessable Entity"])
    status: int
    detail: str = Field(description="what was wrong and the fix")
    errors: list[FieldError] = Field(description="one entry per bad input (empty when the "
                                     "refusal concerns no single input)")
    error: str | None = Field(None, description="Open Inference Protocol routes (/v2): the "
                              "detail again, as that protocol's error body has it")


_ERRORS = {400: "the body could not be read, or is nested too deeply",
           401: "missing or invalid API key",
           403: "the key lacks the scope", 404: "no such twin, key or model",
           409: "the twin id is taken", 413: "the body is over serve.max_body_bytes",
           415: "the body is not JSON (Content-Type)",
           422: "invalid input: the field, the value and the fix",
           429: "the queue is full; retry after Retry-After s",
           503: "compute timed out or the store is unavailable; retry after Retry-After s"}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    c: {"model": Problem, "description": d} for c, d in _ERRORS.items()}
