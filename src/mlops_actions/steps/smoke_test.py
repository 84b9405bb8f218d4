"""Step 8, smoke-test: one deployment, called directly, before it gets live traffic.

Four checks, each a list of failures (an empty list passes):
- **schema** — the model signature in the registry against the smoke cases (every required input
  column present), the answers (one prediction per row, of the output type) and the deployment
  (a request missing a required column must be refused with a 4xx);
- **golden cases** from `smoke.cases`, a JSONL file with one case per line:
  `{"name": "…", "input": {column: value}, "expected": 0}` (this exact prediction),
  `"expected": {"min": 0.0, "max": 0.3}` (a number in this range; either bound may be left out)
  or `"expected": "any"` / no `expected` (any valid prediction);
- **latency** — p95 of every request the smoke test sends ≤ `smoke.latency_budget_ms`;
- **prediction parity** — `smoke.parity_rows` holdout rows, one request each, against the
  registered model's own predictions offline; any difference above `smoke.parity_tolerance` is
  training/serving skew (a different library in the serving environment, a preprocessing step
  that differs, a model that behaves differently when served).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.backends.endpoint import Invocation, scoring_payload
from mlops_actions.errors import BackendError, InputError
from mlops_actions.scoring import (
    ModelFailed,
    difference,
    holdout_rows,
    json_records,
    offline_predictions,
    scalar,
    served_predictions,
)

if TYPE_CHECKING:
    from mlops_actions.backends.endpoint import DeploymentInfo, Endpoint
    from mlops_actions.config import Settings
    from mlops_actions.config.schema import SmokeSettings

ANY = "any"


@dataclass(frozen=True)
class SmokeCase:
    """One golden case of `smoke.cases` (`line` is its line in the file)."""

    name: str
    line: int
    inputs: dict[str, Any]
    expected: Any = None
    minimum: float | None = None
    maximum: float | None = None
    any_valid: bool = True

    def describe_expectation(self) -> str:
        if self.any_valid:
            return "any valid prediction"
        if self.minimum is not None or self.maximum is not None:
            low = "-∞" if self.minimum is None else f"{self.minimum:g}"
            high = "∞" if self.maximum is None else f"{self.maximum:g}"
            return f"a number in [{low}, {high}]"
        return f"{self.expected!r}"


@dataclass(frozen=True)
class CaseOutcome:
    name: str
    passed: bool
    prediction: Any
    detail: str
    latency_ms: float


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test found; `failures` holds one sentence per problem."""

    deployment: str
    model_name: str
    model_version: str
    failures: tuple[str, ...]
    cases: tuple[CaseOutcome, ...]
    p95_latency_ms: float | None
    latency_budget_ms: float
    parity_rows: int
    parity_mismatches: int
    parity_max_diff: float | None
    parity_tolerance: float
    schema_checked: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(path: Path) -> list[SmokeCase]:
    """Read a smoke-case JSONL file; raises InputError naming the file and line of a bad case."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"smoke.cases: {path} does not exist;",
            hint="create it (one JSON case per line) or remove smoke.cases from mlops.yaml.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"smoke.cases: cannot read {path}: {exc};") from None
    cases = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("//"):
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{where}: not valid JSON ({exc.msg});",
                hint='write one object per line: {"name": …, "input": {…}, "expected": …}.',
            ) from None
        if not isinstance(item, dict) or not isinstance(item.get("input"), dict):
            raise InputError(
                f"{where}: a case needs an 'input' object of column → value;",
                hint='e.g. {"name": "low risk", "input": {"age": 41, …}, "expected": 0}.',
            )
        unknown = set(item) - {"name", "input", "expected", "description"}
        if unknown:
            raise InputError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))};",
                hint="a case has name, input, expected (and an optional description).",
            )
        cases.append(_case(item, number, where))
    if not cases:
        raise InputError(f"smoke.cases: {path} holds no cases;", hint="add at least one line.")
    return cases


def _case(item: dict[str, Any], number: int, where: str) -> SmokeCase:
    name = str(item.get("name") or f"line {number}")
    expected = item.get("expected", ANY)
    if expected == ANY or expected is None:
        return SmokeCase(name, number, item["input"])
    if isinstance(expected, dict):
        unknown = set(expected) - {"min", "max"}
        bounds = [expected.get("min"), expected.get("max")]
        if unknown or all(b is None for b in bounds):
            raise InputError(
                f'{where}: a range is {{"min": …, "max": …}} (either bound may be left out);'
            )
        for bound in bounds:
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, int | float)
            ):
                raise InputError(f"{where}: range bounds must be numbers, got {bound!r};")
        low, high = (float(b) if b is not None else None for b in bounds)
        if low is not None and high is not None and low > high:
            raise InputError(f"{where}: the range min {low:g} is above its max {high:g};")
        return SmokeCase(name, number, item["input"], None, low, high, any_valid=False)
    if isinstance(expected, list):
        raise InputError(f"{where}: 'expected' is one prediction, a {{min, max}} range or \"any\";")
    return SmokeCase(name, number, item["input"], expected, any_valid=False)


def smoke_test(
    settings: Settings,
    *,
    deployment: str,
    endpoint: Endpoint,
    offline_model: Any = None,
) -> SmokeResult:
    """Smoke-test `deployment` on `endpoint`, calling it directly (no live traffic needed).

    Cases, latency budget and parity come from `settings.smoke`. `offline_model` is the
    registered model loaded in this process (loaded from the registry when None). Raises
    InputError for a bad case file, missing holdout data or an unknown deployment; EndpointError
    when the endpoint cannot be reached. Failed checks are in the result, and so is a model that
    fails: one that cannot be loaded, or whose predict raises or gives the wrong number of
    predictions, offline or served.
    """
    smoke = settings.smoke
    cases = load_cases(smoke.cases) if smoke.cases is not None else []
    info = endpoint.get_deployment(deployment)
    if info is None:
        from mlops_actions.backends.endpoint import UnknownDeployment

        raise UnknownDeployment(
            f"the endpoint has no deployment named {deployment!r};",
            hint="see `mlops endpoint status` for the deployments it has.",
        )
    notes: list[str] = []
    if smoke.cases is None:
        notes.append("no smoke.cases configured: golden cases skipped")
    base = _unchecked(deployment, info, smoke, notes)
    if not info.ready:
        reason = f"deployment {deployment} is {info.state}" + (
            f": {info.error}" if info.error else ""
        )
        return _with(base, failures=(reason,))
    holdout = holdout_rows(settings, smoke.parity_rows) if smoke.parity_rows > 0 else None
    if offline_model is None and (holdout is not None or cases):
        from mlops_actions.registry import ModelRegistry

        try:
            offline_model = ModelRegistry.from_settings(settings).load_model(
                info.model_name, info.model_version
            )
        except BackendError as exc:
            # The model under test is broken (or its artifacts are gone): a verdict, not a crash.
            reason = f"the registered model v{info.model_version} failed to load: {exc.message}"
            return _with(base, failures=(reason,))
    wanted_parity = smoke.parity_rows > 0
    return _checks(base, endpoint, offline_model, cases, holdout, wanted_parity=wanted_parity)


def _unchecked(
    deployment: str, info: DeploymentInfo, smoke: SmokeSettings, notes: list[str]
) -> SmokeResult:
    """The result before any check ran: what the deployment serves and the limits it gets."""
    return SmokeResult(
        deployment=deployment,
        model_name=info.model_name,
        model_version=info.model_version,
        failures=(),
        cases=(),
        p95_latency_ms=None,
        latency_budget_ms=smoke.latency_budget_ms,
        parity_rows=0,
        parity_mismatches=0,
        parity_max_diff=None,
        parity_tolerance=smoke.parity_tolerance,
        schema_checked=False,
        notes=tuple(notes),
    )


def _checks(
    base: SmokeResult,
    endpoint: Endpoint,
    model: Any,
    cases: list[SmokeCase],
    holdout: Any,
    *,
    wanted_parity: bool,
) -> SmokeResult:
    """Schema, golden cases, parity and latency of a ready deployment, as `base` completed."""
    deployment = base.deployment
    notes = list(base.notes)
    failures: list[str] = []
    latencies: list[float] = []
    required, output_type = _signature(model)
    if required is None:
        notes.append("the model has no signature: schema not checked")
    else:
        failures += _schema_failures(endpoint, deployment, cases, required, holdout, latencies)

    outcomes = []
    for case in cases:
        outcome = _run_case(endpoint, deployment, case, output_type)
        outcomes.append(outcome)
        latencies.append(outcome.latency_ms)
        if not outcome.passed:
            failures.append(f"case {case.name!r} (line {case.line}): {outcome.detail}")

    mismatches, max_diff, checked = 0, None, 0
    if holdout is not None and len(holdout):
        tolerance = base.parity_tolerance
        parity = _parity(endpoint, deployment, model, holdout, tolerance, latencies)
        mismatches, max_diff, checked, problems = parity
        failures += problems
    elif wanted_parity:
        notes.append("no holdout rows: prediction parity not checked")

    p95 = _p95(latencies)
    budget = base.latency_budget_ms
    if p95 is not None and p95 > budget:
        failures.append(
            f"p95 latency {p95:.1f} ms is over the budget of {budget:g} ms "
            f"({len(latencies)} requests)"
        )
    return _with(
        base,
        failures=tuple(failures),
        cases=tuple(outcomes),
        p95_latency_ms=p95,
        parity_rows=checked,
        parity_mismatches=mismatches,
        parity_max_diff=max_diff,
        schema_checked=required is not None,
        notes=tuple(notes),
    )


def _with(base: SmokeResult, **changes: Any) -> SmokeResult:
    from dataclasses import replace

    return replace(base, **changes)


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


def _signature(model: Any) -> tuple[list[str] | None, str | None]:
    """(required input columns, output type name) from the model's signature."""
    if model is None:
        return None, None
    metadata = getattr(model, "metadata", None)
    schema = metadata.get_input_schema() if metadata is not None else None
    required: list[str] | None = None
    if schema is not None and schema.has_input_names():
        required = [
            spec.name for spec in schema.inputs if getattr(spec, "required", True) and spec.name
        ]
    output = metadata.get_output_schema() if metadata is not None else None
    output_type = None
    if output is not None and not output.is_tensor_spec() and len(output.inputs) == 1:
        output_type = str(getattr(output.inputs[0].type, "name", output.inputs[0].type))
    return required, output_type


def _schema_failures(
    endpoint: Endpoint,
    deployment: str,
    cases: list[SmokeCase],
    required: list[str],
    holdout: Any,
    latencies: list[float],
) -> list[str]:
    failures = []
    for case in cases:
        missing = [c for c in required if c not in case.inputs]
        if missing:
            failures.append(
                f"schema: case {case.name!r} (line {case.line}) lacks required input(s) "
                f"{', '.join(missing)} of the model signature"
            )
    if not required:
        return failures
    sample = None
    if holdout is not None and len(holdout):
        sample = json_records(holdout.head(1))[0]
    elif cases:
        sample = dict(cases[0].inputs)
    if sample is None or required[0] not in sample:
        return failures
    dropped = required[0]
    partial = {k: v for k, v in sample.items() if k != dropped}
    answer = endpoint.invoke(scoring_payload([partial]), deployment=deployment, source="smoke")
    latencies.append(answer.latency_ms)
    if answer.ok:
        failures.append(
            f"schema: the deployment accepted a request without the required input {dropped!r}; "
            "it does not enforce the model signature"
        )
    elif answer.status >= 500:
        failures.append(
            f"schema: a request without the required input {dropped!r} made the deployment fail "
            f"with {answer.status} instead of refusing it with 4xx"
        )
    return failures


def _valid(prediction: Any, output_type: str | None) -> str | None:
    """Why a prediction is not valid for the output schema, or None."""
    if prediction is None:
        return "the prediction is null"
    if isinstance(prediction, float) and not math.isfinite(prediction):
        return f"the prediction is {prediction}"
    numeric = isinstance(prediction, int | float) and not isinstance(prediction, bool)
    if output_type in ("long", "integer") and not (numeric and float(prediction).is_integer()):
        return f"expected a whole number (output schema {output_type}), got {prediction!r}"
    if output_type in ("double", "float") and not numeric:
        return f"expected a number (output schema {output_type}), got {prediction!r}"
    if output_type == "string" and not isinstance(prediction, str):
        return f"expected a string (output schema string), got {prediction!r}"
    return None


def _run_case(
    endpoint: Endpoint, deployment: str, case: SmokeCase, output_type: str | None
) -> CaseOutcome:
    answer = endpoint.invoke(scoring_payload([case.inputs]), deployment=deployment, source="smoke")
    if not answer.ok:
        return CaseOutcome(case.name, False, None, _answer_error(answer), answer.latency_ms)
    predictions = served_predictions(answer)
    if predictions is None or len(predictions) != 1:
        got = "no predictions" if predictions is None else f"{len(predictions)} predictions"
        return CaseOutcome(
            case.name, False, None, f"expected 1 prediction, got {got}", answer.latency_ms
        )
    prediction = scalar(predictions[0])
    invalid = _valid(prediction, output_type)
    if invalid:
        return CaseOutcome(case.name, False, prediction, invalid, answer.latency_ms)
    if case.any_valid:
        return CaseOutcome(case.name, True, prediction, "valid", answer.latency_ms)
    if case.minimum is not None or case.maximum is not None:
        if isinstance(prediction, bool) or not isinstance(prediction, int | float):
            detail = f"expected {case.describe_expectation()}, got {prediction!r}"
            return CaseOutcome(case.name, False, prediction, detail, answer.latency_ms)
        inside = (case.minimum is None or prediction >= case.minimum) and (
            case.maximum is None or prediction <= case.maximum
        )
        detail = f"expected {case.describe_expectation()}, got {prediction:g}"
        return CaseOutcome(case.name, inside, prediction, detail, answer.latency_ms)
    same = _equal(prediction, case.expected)
    detail = f"expected {case.expected!r}, got {prediction!r}"
    return CaseOutcome(case.name, same, prediction, detail, answer.latency_ms)


def _equal(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b) or str(a) == str(b)


def _answer_error(answer: Invocation) -> str:
    body = answer.body.get("error", answer.body) if isinstance(answer.body, dict) else answer.body
    return f"the deployment answered {answer.status}: {str(body)[:300]}"


def _parity(
    endpoint: Endpoint,
    deployment: str,
    model: Any,
    holdout: Any,
    tolerance: float,
    latencies: list[float],
) -> tuple[int, float | None, int, list[str]]:
    """(rows that differ, max difference, rows compared, failures)."""
    records = json_records(holdout)
    try:
        offline = offline_predictions(model, holdout)
    except ModelFailed as exc:
        return 0, None, 0, [f"parity: {exc}"]
    max_diff = 0.0
    mismatches = 0
    errors = 0
    first_error = ""
    for i, row in enumerate(records):
        answer = endpoint.invoke(scoring_payload([row]), deployment=deployment, source="smoke")
        latencies.append(answer.latency_ms)
        predictions = served_predictions(answer) if answer.ok else None
        if predictions is None or len(predictions) != 1:
            errors += 1
            first_error = first_error or (
                _answer_error(answer) if not answer.ok else "no prediction in the answer"
            )
            continue
        diff = difference(scalar(predictions[0]), offline[i])
        max_diff = max(max_diff, diff)
        if diff > tolerance:
            mismatches += 1
    failures = []
    if errors:
        failures.append(
            f"parity: {errors} of {len(records)} holdout rows failed on the deployment "
            f"(first: {first_error})"
        )
    if mismatches:
        failures.append(
            f"parity: {mismatches} of {len(records)} holdout rows differ from the registered "
            f"model's offline predictions (max difference {max_diff:.6g} > tolerance "
            f"{tolerance:g}): training/serving skew"
        )
    compared = len(records) - errors
    return mismatches, (max_diff if compared else None), compared, failures
