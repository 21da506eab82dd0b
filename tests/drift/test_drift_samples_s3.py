"""Drift samples and datasets on the real S3 server (SeaweedFS), the production storage path."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from drift.models import DriftSample
from drift.services import drift_sample_frame
from tests.conftest import S3_BUCKET
from tests.models_api.test_train_api import train_body

pytestmark = [pytest.mark.django_db, pytest.mark.s3, pytest.mark.usefixtures("runs_jobs")]


def test_drift_sample_round_trips_through_s3(api_client, s3_storages, s3_client):
    response = api_client.post("/train", train_body(model_name="iris-s3"), format="json")

    assert response.status_code == 201, response.content
    sample = DriftSample.objects.get(pk=response.json()["drift_sample_id"])
    key = f"drift-samples/{sample.file.name}"
    stored = s3_client.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
    from_s3 = pd.read_parquet(io.BytesIO(stored))
    assert len(from_s3) == sample.rows == 15
    pd.testing.assert_frame_equal(drift_sample_frame(sample=sample), from_s3)
    # Every sampled row is a real training row.
    iris = load_iris(as_frame=True).frame
    assert len(from_s3.merge(iris.drop_duplicates(), how="inner")) >= sample.rows


def test_train_from_a_csv_in_the_s3_datasets_storage(api_client, s3_storages, s3_client):
    csv = load_iris(as_frame=True).frame.to_csv(index=False).encode()
    s3_client.put_object(Bucket=S3_BUCKET, Key="datasets/2026/train.csv", Body=csv)

    response = api_client.post(
        "/train", train_body(model_name="iris-s3-uri", data={"uri": "2026/train.csv"}), format="json"
    )

    assert response.status_code == 201, response.content


def test_missing_file_in_s3_datasets_storage_is_400(api_client, s3_storages):
    response = api_client.post("/train", train_body(model_name="x", data={"uri": "2026/absent.csv"}), format="json")

    assert response.status_code == 400
    assert "data.uri" in response.json()["error"]["details"]
