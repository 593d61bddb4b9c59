"""Builds the cdktf App: a state-backend stack per account and region, one ml-pipeline stack per environment."""

from cdktf import App

from stacks.config import AppConfig
from stacks.ml_pipeline import MlPipelineStack
from stacks.state_backend import StateBackendStack


def build_app(config: AppConfig, outdir: str) -> App:
    app = App(outdir=outdir)
    for location in config.state_locations:
        StateBackendStack(app, config, location)
    for env in config.environments:
        MlPipelineStack(app, config, env)
    return app
