"""Pull-request review of Terraform plans (ARCHITECTURE §9).

``python -m tools.plan_report [options] PLAN.json ...`` reads ``terraform show -json`` plans of the CDKTF stacks and
writes one Markdown report a reviewer can approve from: exact action classes per stack, rows named by construct
path, stateful deletes and data-loss precursors (blocking unless acknowledged in ``tools/plan-acknowledgements.json``),
domain diffs (Step Functions, IAM, EventBridge, SageMaker capacity and cost), the phase flag first, drift apart, values
never shown by default, and a size budget that never cuts the summary. Exit 0: nothing blocking; 1: blocking
findings; 2: bad input.

Modules: ``inputs`` (validation) → ``analysis`` (rows, findings; with ``policy``, ``phase``, ``sagemaker``, ``iam``,
``stepfunctions``, ``events``; type knowledge in ``rules``) → ``render`` (Markdown, trimming) and ``summary``
(JSON, fingerprint); ``cli`` wires them.
"""
