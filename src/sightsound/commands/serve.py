"""``sightsound serve --role teacher|verifier|student [--port 8000] [RECIPE overrides]``: a role's model over HTTP.

Serves the recipe's ``models.<role>`` (run here with the ``hf`` or ``vllm`` backend) over an
OpenAI-compatible chat-completions API (``POST /v1/chat/completions``, ``GET /v1/models``,
``GET /health``; :mod:`sightsound.serve` describes what it speaks), so the ``openai`` backend of
teach, verify and eval can reach a local model. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import threading

from sightsound.backends.base import make_backend
from sightsound.cli import add_recipe_arguments, load_recipe_from_args
from sightsound.config import ConfigError
from sightsound.serve import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, ChatServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=["teacher", "verifier", "student"], default="verifier",
                        help="which models.<role> of the recipe to serve (default: verifier)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default=None,
                        help="the name clients must send as `model` (default: the role's name_or_path)")
    parser.add_argument("--backend", choices=["hf", "vllm"], default=None,
                        help="how to run the model here (default: the role's backend, or hf where the recipe "
                             "reaches the role through an endpoint)")
    parser.add_argument("--latency-s", type=float, default=0.0, help="artificial latency per request")
    parser.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / 2**20,
                        help="refuse larger request bodies with 413 (default %(default)g)")
    parser.add_argument("--body-timeout-s", type=float, default=DEFAULT_BODY_TIMEOUT_S,
                        help="answer 408 when a body takes longer to arrive (default %(default)g)")
    parser.add_argument("--api-key-env", default=None,
                        help="require the key held by this environment variable (default: no key)")
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe_from_args(args)
    spec = getattr(recipe.models, args.role)
    if spec.backend == "openai":
        # The recipe reaches this role over HTTP; serving it means running its model here, so the
        # recipe that names the endpoint can also stand it up (--backend picks vllm on a GPU). The
        # recipe's frames_as says how the *client* sends frames; the model served here takes them as
        # video where its processor can (GPU machines), else as images: "auto".
        spec = dataclasses.replace(spec, backend=args.backend or "hf", frames_as="auto")
    elif args.backend:
        spec = dataclasses.replace(spec, backend=args.backend)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ConfigError(f"--api-key-env {args.api_key_env}: the variable is not set")
    backend = make_backend(spec)
    server = ChatServer(backend, model_name=args.served_model_name or spec.name_or_path, host=args.host,
                        port=args.port, latency_s=args.latency_s, api_key=api_key,
                        max_body_bytes=int(args.max_body_mb * 2**20), body_timeout_s=args.body_timeout_s)
    stop = threading.Event()
    # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(f"serving {server.model_name} at {server.base_url} (Ctrl-C stops)", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("server stopped", flush=True)
    return 0
