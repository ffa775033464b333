"""A new boto3 session for each client, with botocore's data files read once a process.

A new session reads the credentials when its first client is made (the default session
keeps the first it found), but it also gets a data loader of its own, which lists
botocore's 400-odd service folders and parses S3's model and the endpoint rules again:
about 0.2 s of CPU a client, and a run to S3 makes several (its output, companions, the
history). The loader only reads files installed with botocore (and ``AWS_DATA_PATH``'s
folders), so one per data path serves every session of the process.

>>> new_session().client("s3", region_name="us-east-1").meta.service_model.service_name
's3'
>>> new_session()._loader is new_session()._loader
True
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
import botocore.loaders
import botocore.session


class _SearchPaths(list[str]):
    """Where the loader looks: boto3 adds its own data folder to the loader of every
    session it makes, and once is enough for a loader they share."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _loader(data_path: str | None) -> Any:
    # botocore.loaders.create_loader, with a search path list that stays the same size
    extra = data_path.split(os.pathsep) if data_path else []
    paths = _SearchPaths(os.path.expanduser(os.path.expandvars(p)) for p in extra)
    return botocore.loaders.Loader(extra_search_paths=paths)


def new_session() -> Any:
    """A boto3 session of its own (credentials, configuration) sharing the data loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader(core.get_config_variable("data_path")))
    return boto3.session.Session(botocore_session=core)
