"""Writes to the prediction store: every row stored with its inputs, outputs and ids, whichever write it takes;
what COPY stores reads back exactly as the JSON that was sent."""

from __future__ import annotations

import json
import uuid

import pytest

from predictions.models import Prediction
from predictions.selectors import request_rows_stored
from predictions.services import COPY_MIN_ROWS, PredictionBatch, predictions_append, predictions_store

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


@pytest.mark.parametrize("rows", [1, COPY_MIN_ROWS])
def test_string_labels_that_read_as_json_come_back_as_the_same_strings(rows):
    labels = ["1", "true", "null", "[2]", '{"a": 1}', "0.5"]
    given = PredictionBatch(
        model_name="labels", model_version="1", request_id=uuid.uuid4(),
        inputs=[json.dumps({"label": labels[i % len(labels)]}) for i in range(rows)],
        predictions=[json.dumps(labels[i % len(labels)]) for i in range(rows)], probabilities=None,
    )  # fmt: skip

    predictions_store(batch=given)

    stored = Prediction.objects.filter(request_id=given.request_id).order_by("row_index")
    expected = [labels[i % len(labels)] for i in range(rows)]
    assert [row.prediction for row in stored] == expected
    assert [row.inputs["label"] for row in stored] == expected
    assert list(stored.values_list("prediction", flat=True)) == expected
