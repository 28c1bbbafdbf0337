"""An example served model (shaped like the wheel-assembly app) that logs every prediction to BigQuery.

    POST /predict  {"sequence": [[step, z, fx, fy, fz, tx, ty, tz] x 10], "tire_type": "R17-sport"}
                   ->  {"class": 0|1, ...}

The PyTorch LSTM is replaced by a tiny deterministic stand-in; what matters here is the logging:
per-signal aggregates, the tire type, the probability and the class go to PredictionLogger, which
never slows or fails the request. The table is the one `driftline init` creates from the model's
config; the logger checks at start-up that every column it monitors is logged here (FEATURES) and
sends only those. Run it against a real project with:

    python -m examples.serving_app --project my-project --dataset ml_logs --table predictions
"""

from __future__ import annotations

import argparse
import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
from fastapi import Depends, FastAPI, Header, Request
from pydantic import BaseModel, Field

from monitor.client.predlog import PredictionLogger

SIGNALS = ("step", "z", "fx", "fy", "fz", "tx", "ty", "tz")
STEPS = 10
MODEL_NAME = "wheel-assembly"
MODEL_VERSION = "v1"
_DEFECT_RATE = 0.18  # the share of defects in the project's label file


class PredictRequest(BaseModel):
    """One assembly: 10 time steps of the 8 signals, and the tire being mounted."""

    sequence: list[Annotated[list[float], Field(min_length=len(SIGNALS), max_length=len(SIGNALS))]] = Field(
        min_length=STEPS, max_length=STEPS
    )
    tire_type: str | None = None  # not a model input, but monitored: a new tire batch is a cause of drift


class PredictResponse(BaseModel):
    request_id: str
    probability: float
    class_: int = Field(serialization_alias="class")


def aggregates(sequence: np.ndarray) -> dict[str, float]:
    """The per-signal aggregates the monitor watches (population std, as in monitor.demo.simulate)."""
    out: dict[str, float] = {}
    for j, name in enumerate(SIGNALS):
        x = sequence[:, j]
        out.update({f"{name}_mean": float(x.mean()), f"{name}_std": float(x.std()), f"{name}_min": float(x.min()),
                    f"{name}_max": float(x.max()), f"{name}_last": float(x[-1])})
    return out


AGGREGATES = ("mean", "std", "min", "max", "last")
# Everything log() passes as features: the 40 aggregates and the tire type.
FEATURES = (*(f"{name}_{agg}" for name in SIGNALS for agg in AGGREGATES), "tire_type")


def stand_in_model(features: dict[str, float]) -> float:
    """P(tire mounted correctly) from the final press force and torque: a stand-in for the LSTM."""
    fz = (features["fz_last"] + 200.0) / 8.0
    tz = (features["tz_last"] - 3.0) / 0.25
    logit = math.log((1 - _DEFECT_RATE) / _DEFECT_RATE) + 0.75 * fz - 0.75 * tz
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))


def get_logger(request: Request) -> PredictionLogger:
    return request.app.state.prediction_logger  # type: ignore[no-any-return]


LoggerDep = Annotated[PredictionLogger, Depends(get_logger)]


def create_app(make_logger: Callable[[], PredictionLogger], threshold: float = 0.5,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """The serving app; make_logger is called at start-up and the logger closed (flushed) at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.prediction_logger = make_logger()
        try:
            yield
        finally:
            app.state.prediction_logger.close()

    app = FastAPI(title="wheel-assembly (example)", lifespan=lifespan)

    @app.post("/predict", response_model=PredictResponse, response_model_by_alias=True)
    async def predict(body: PredictRequest, logger: LoggerDep,
                x_request_id: Annotated[str | None, Header()] = None) -> PredictResponse:
        request_id = x_request_id or uuid.uuid4().hex
        features = aggregates(np.asarray(body.sequence, dtype=float))
        probability = stand_in_model(features)
        predicted = int(probability >= threshold)
        # log() only enqueues (no I/O), so this handler can run on the event loop without a thread hop.
        # A full queue or a BigQuery outage costs a logged row, never the answer.
        logger.log(request_id, clock(), MODEL_NAME, MODEL_VERSION, {**features, "tire_type": body.tire_type},
                   probability, predicted)
        return PredictResponse(request_id=request_id, probability=probability, class_=predicted)

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the example against a real BigQuery table (Application Default Credentials)."""
    import uvicorn
    from google.cloud import bigquery

    parser = argparse.ArgumentParser(description="Example served model logging predictions to BigQuery")
    parser.add_argument("--project", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--table", default="predictions")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    table = f"{args.project}.{args.dataset}.{args.table}"
    app = create_app(lambda: PredictionLogger.for_bigquery(bigquery.Client(project=args.project), table,
                                                           features=FEATURES))
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
