"""predictions_store: every row of a batch stored with its inputs, outputs and ids, whichever write it takes."""

from __future__ import annotations

import json
import uuid

import pytest

from predictions.models import Prediction
from predictions.services import COPY_MIN_ROWS, PredictionBatch, predictions_store

pytestmark = pytest.mark.django_db


def batch(rows: int, *, probabilities: bool = True) -> PredictionBatch:
    inputs = [json.dumps({"x": index + 0.5, "colour": f'c\'{index}\t\\ "q"', "gap": None}) for index in range(rows)]
    return PredictionBatch(
        model_name="store",
        model_version="3",
        request_id=uuid.uuid4(),
        inputs=inputs,
        predictions=[json.dumps(["a", "b", 7][index % 3]) for index in range(rows)],
        probabilities=[json.dumps([i / rows, 1 - i / rows]) for i in range(rows)] if probabilities else None,
    )


# One row and COPY_MIN_ROWS - 1 go through one INSERT ... RETURNING, COPY_MIN_ROWS and more through COPY.
@pytest.mark.parametrize("rows", [1, COPY_MIN_ROWS - 1, COPY_MIN_ROWS, 1000])
def test_every_row_is_stored_with_its_inputs_outputs_and_probabilities_in_row_order(rows):
    given = batch(rows)

    ids = predictions_store(batch=given)

    stored = list(Prediction.objects.filter(request_id=given.request_id).order_by("row_index"))
    assert [row.id for row in stored] == ids
    assert [row.row_index for row in stored] == list(range(rows))
    assert [row.inputs for row in stored] == [json.loads(text) for text in given.inputs]
    assert [row.prediction for row in stored] == [json.loads(text) for text in given.predictions]
    assert [row.probabilities for row in stored] == [json.loads(text) for text in given.probabilities or []]
    assert {(row.model_name, row.model_version) for row in stored} == {("store", "3")}


@pytest.mark.parametrize("rows", [1, COPY_MIN_ROWS])
def test_rows_without_probabilities_store_null(rows):
    given = batch(rows, probabilities=False)

    predictions_store(batch=given)

    assert (
        list(Prediction.objects.filter(request_id=given.request_id).values_list("probabilities", flat=True))
        == [None] * rows
    )
    assert Prediction.objects.filter(request_id=given.request_id, probabilities__isnull=True).count() == rows
