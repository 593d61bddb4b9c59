"""Builds the cdktf App: one state-backend stack plus one ml-pipeline stack per environment."""

from cdktf import App

from stacks.config import AppConfig
from stacks.ml_pipeline import MlPipelineStack
from stacks.state_backend import StateBackendStack


def build_app(config: AppConfig, outdir: str) -> App:
    app = App(outdir=outdir)
    StateBackendStack(app, config)
    for env in config.environments:
        MlPipelineStack(app, config, env)
    return app
