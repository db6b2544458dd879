"""The report's shapes: plain frozen dataclasses a template renders and a cache pickles."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptlib.stats import Verdict


@dataclass(frozen=True)
class VariantInfo:
    id: int
    key: str
    version_id: int
    version_number: int
    is_control: bool


@dataclass(frozen=True)
class Cell:
    """One variant on one metric: its estimate and, for challengers, the comparison with the control."""

    variant: str
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    difference: float | None = None  # variant minus control, in the metric's units
    difference_low: float | None = None
    difference_high: float | None = None
    p_value: float | None = None  # Holm-adjusted when there is more than one challenger
    chance_to_beat_control: float | None = None
    test: str = ""
    method: str = ""
    significant: bool = False
    better: bool | None = None  # significant and in the good direction (False: significantly worse)
    # Guardrails: one-sided p-values (Holm-adjusted over the challenger's guardrails) that the harm is
    # within / beyond the margin, the margin in words, and the outcome ("safe", "failed", "not_shown_safe").
    p_safe: float | None = None
    p_harm: float | None = None
    margin: str = ""
    guardrail: str = ""


@dataclass(frozen=True)
class MetricRow:
    metric: str
    label: str
    unit: str
    is_rate: bool
    higher_is_better: bool | None  # None: direction not registered (never a winner)
    role: str  # "primary", "guardrail" or ""
    cells: list[Cell]


@dataclass(frozen=True)
class Guidance:
    required: int | None  # per variant, to detect the minimum effect with 80% power
    current: int
    more_needed: int
    text: str


@dataclass(frozen=True)
class Series:
    """A metric over time: one point per batch run or per day, one line per variant."""

    metric: str
    label: str
    is_rate: bool
    x: list[str]
    values: dict[str, list[float | None]]


@dataclass(frozen=True)
class Exposure:
    """One variant's exposures: distinct subjects shown it and renders (flushed every minute)."""

    subjects: int
    renders: int
    exact: bool  # False: subjects counted by a HyperLogLog (about 0.8% error)


@dataclass(frozen=True)
class SampleRatio:
    """The sample-ratio-mismatch check: subjects exposed per variant against the configured weights."""

    observed: dict[str, int]
    expected: dict[str, float]
    p_value: float
    failed: bool
    text: str  # one plain sentence for the page


@dataclass(frozen=True)
class Section:
    kind: str  # "offline" or "production"
    title: str
    method: str  # in plain words, for the page
    unit_name: str  # what is counted: "cases" or "events"
    sample_sizes: dict[str, int]
    rows: list[MetricRow]
    verdict: Verdict
    guidance: Guidance | None
    series: list[Series] = field(default_factory=list)
    has_data: bool = False
    adjusted: bool = False  # p-values Holm-adjusted across challengers
    left_out: str = ""  # results not counted, said in plain words (e.g. cancelled batches)
    # Production only: the planned sample per variant (subjects), whether every variant reached it,
    # and the exposure counts with the sample-ratio-mismatch check.
    planned_n: int | None = None
    planned_reached: bool = False
    exposures: dict[str, Exposure] = field(default_factory=dict)
    srm: SampleRatio | None = None
    alpha: float = 0.05  # the p-value a winner needs in this section now (offline: spent across runs)
    decision_note: str = ""  # how repeated looks are accounted for, in plain words
    provisional: bool = False  # a batch is still running: numbers shown, no verdict drawn


@dataclass(frozen=True)
class ExperimentReport:
    experiment_id: int
    primary_metric: str
    variants: list[VariantInfo]
    verdict: Verdict  # the headline
    verdict_source: str  # "production", "offline" or ""
    explanation: str  # why the headline comes from that section
    offline: Section
    production: Section
    winner: VariantInfo | None = None
    calibration: object | None = None  # promptlib.analysis.calibration.Calibration: graders, costs
