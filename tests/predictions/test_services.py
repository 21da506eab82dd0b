"""Writes to the prediction store: what COPY stores reads back exactly as the JSON that was sent."""

from __future__ import annotations

import json
import uuid

import pytest

from predictions.models import Prediction
from predictions.selectors import request_rows_stored
from predictions.services import PredictionBatch, predictions_append, predictions_store

pytestmark = pytest.mark.django_db

AWKWARD = ["back\\slash", "tab\there", "line\nbreak", "carriage\rreturn", 'quote"d', "é ü 中文 🙂", "\\N", "", "\\t"]


def awkward_batch(rows: int, *, probabilities: bool) -> PredictionBatch:
    inputs = [{"text": AWKWARD[i % len(AWKWARD)], "x": i / 3, "missing": None} for i in range(rows)]
    return PredictionBatch(
        model_name="copy-check",
        model_version="1",
        request_id=uuid.uuid4(),
        inputs=[json.dumps(row) for row in inputs],
        predictions=[json.dumps(AWKWARD[(i + 1) % len(AWKWARD)]) for i in range(rows)],
        probabilities=[json.dumps([0.25, 0.75]) if i % 2 else "null" for i in range(rows)] if probabilities else None,
    )


@pytest.mark.parametrize("probabilities", [True, False])
def test_rows_stored_by_copy_read_back_as_sent(probabilities):
    batch = awkward_batch(200, probabilities=probabilities)  # over COPY_MIN_ROWS: the COPY path

    ids = predictions_store(batch=batch)

    stored = list(Prediction.objects.filter(request_id=batch.request_id).order_by("row_index"))
    assert [row.id for row in stored] == ids
    assert [row.inputs for row in stored] == [json.loads(text) for text in batch.inputs]
    assert [row.prediction for row in stored] == [json.loads(text) for text in batch.predictions]
    expected = [json.loads(text) for text in batch.probabilities] if batch.probabilities else [None] * 200
    assert [row.probabilities for row in stored] == expected


def test_appended_chunks_number_their_rows_after_the_stored_ones():
    first = awkward_batch(150, probabilities=True)
    second = PredictionBatch(**{**first.__dict__, "inputs": first.inputs[:50], "predictions": first.predictions[:50],
                                "probabilities": first.probabilities[:50]})  # fmt: skip

    predictions_append(batch=first, first_row_index=0)
    predictions_append(batch=second, first_row_index=request_rows_stored(request_id=first.request_id))

    stored = Prediction.objects.filter(request_id=first.request_id)
    assert request_rows_stored(request_id=first.request_id) == 200
    assert sorted(stored.values_list("row_index", flat=True)) == list(range(200))
    assert stored.get(row_index=160).inputs == json.loads(first.inputs[10])
