"""What the training workflow does, stated once for the unit tests and the emulator round."""

# The states an approved training run enters, in order (an upload, the metric passes, the gate on, a reviewer approves).
APPROVED_TRAINING_RUN = [
    "NameVersion",
    "HasNewUpload",
    "ValidateData",
    "Preprocess",
    "PreprocessSucceeded",
    "Train",
    "Evaluate",
    "MetricMeetsThreshold",
    "RegisterModel",
    "NotifyApprovalNeeded",
    "WaitForApproval",
    "NotifyRegistered",
]
