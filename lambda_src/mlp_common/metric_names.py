"""Names of the pipeline's own CloudWatch metrics: one source for the handlers' EMF lines, the alarms and the dashboard.

The infrastructure imports this module from lambda_src/ (constructs/metric_catalog.py), so a renamed metric renames the
alarm and the widget that read it in the same change. Constants only: it is zipped with every function.
"""

# Every metric of ours carries exactly this one dimension, valued with the environment name (ENVIRONMENT).
DIMENSION = "Environment"
VARIANT_DIMENSION = "Variant"  # PredictionLatency also per production variant (A/B)

# preprocess: raw objects
RECORDS_PROCESSED = "RecordsProcessed"
RECORDS_REJECTED = "RecordsRejected"
DATA_DRIFT = "DataDrift"  # |batch mean - baseline mean| in baseline standard deviations, the largest over features
OBJECTS_REFUSED = "ObjectsRefused"
# inference and stream_consumer
PREDICTION_LATENCY = "PredictionLatency"
STREAM_RECORDS_PROCESSED = "StreamRecordsProcessed"
STREAM_RECORDS_FAILED = "StreamRecordsFailed"
