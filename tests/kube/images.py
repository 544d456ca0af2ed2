"""Image configuration (ENTRYPOINT, CMD, ENV, USER) read from the project's Dockerfile.

The local kubelet runs a container the way the image would: the entrypoint the Dockerfile
declares (``tini -- asoud``), its environment, and the pod spec's args, with the image's
virtualenv mapped to this project's own environment.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_VENV = "/opt/asoud"  # where the Dockerfile installs the project
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV = {"PATH": BASE_PATH, "LANG": "C.UTF-8"}  # what the python:slim base declares
# image repository -> Dockerfile target
TARGETS = {"ghcr.io/asoud/asoud": "app", "ghcr.io/asoud/asoud-operator": "operator"}


@dataclass
class ImageConfig:
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))
    user: str | None = None
    workdir: str = "/"


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _expand(value: str, env: dict[str, str], args: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, args.get(name, ""))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, value)


def _words(value: str) -> list[str]:
    return list(json.loads(value)) if value.startswith("[") else ["/bin/sh", "-c", value]


def image_configs(dockerfile: Path = DOCKERFILE) -> dict[str, ImageConfig]:
    """Every stage's configuration, stages inheriting from the stage they are FROM."""
    stages: dict[str, ImageConfig] = {}
    args: dict[str, str] = {}
    current: ImageConfig | None = None
    for word, rest in _instructions(dockerfile.read_text()):
        if word == "ARG" and current is None:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            parts = rest.split()
            base = _expand(parts[0], {}, args)
            parent = stages.get(base)
            current = (
                ImageConfig(
                    list(parent.entrypoint), list(parent.cmd), dict(parent.env), parent.user
                )
                if parent
                else ImageConfig()
            )
            if len(parts) >= 3 and parts[1].upper() == "AS":
                stages[parts[2]] = current
        elif current is None:
            continue
        elif word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                current.env[name] = _expand(value, current.env, args)
        elif word == "ENTRYPOINT":
            current.entrypoint = _words(rest)
            current.cmd = []
        elif word == "CMD":
            current.cmd = _words(rest)
        elif word == "USER":
            current.user = rest
        elif word == "WORKDIR":
            current.workdir = rest
    return stages


def local(config: ImageConfig) -> ImageConfig:
    """The image's virtualenv replaced by this project's (the code under test)."""
    env = {k: v.replace(IMAGE_VENV, sys.prefix) for k, v in config.env.items()}
    return ImageConfig(config.entrypoint, config.cmd, env, config.user, config.workdir)


def for_image(image: str, configs: dict[str, ImageConfig]) -> ImageConfig:
    repository = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    target = TARGETS.get(repository)
    if target is None or target not in configs:
        raise LookupError(f"no Dockerfile target builds {image}")
    return local(configs[target])
