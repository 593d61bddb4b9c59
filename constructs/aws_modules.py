"""Loads only the AWS provider submodules the app uses.

``import cdktf_cdktf_provider_aws`` executes a package ``__init__`` that imports all ~2,100 resource submodules
(about 20 s and several hundred MiB). Every submodule only needs the package's ``_jsii`` module, which loads the
provider's jsii assembly. So we register the package without executing its ``__init__``, load ``_jsii``, and import
each submodule on first attribute access: ``aws.s3_bucket.S3Bucket``. If the full package was already imported
(by a user's own code), it is simply reused.
"""

import importlib
import importlib.util
import sys
from types import ModuleType

_PACKAGE = "cdktf_cdktf_provider_aws"


def _package() -> ModuleType:
    package = sys.modules.get(_PACKAGE)
    if package is None:
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None:
            raise ModuleNotFoundError(f"{_PACKAGE} is not installed: run `make install`")
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        importlib.import_module(f"{_PACKAGE}._jsii")
    return package


class _ProviderModules:
    """Attribute access imports ``cdktf_cdktf_provider_aws.<name>`` (and nothing else)."""

    def __getattr__(self, name: str) -> ModuleType:
        if name.startswith("__"):
            raise AttributeError(name)
        _package()
        module = importlib.import_module(f"{_PACKAGE}.{name}")
        setattr(self, name, module)
        return module


aws = _ProviderModules()
