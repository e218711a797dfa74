"""Starts and stops the whole local stack in this process: moto, provisioning, gateway, workers, scheduler."""

from __future__ import annotations

import logging
import threading
from typing import Any

from local import operators, provision
from local.gateway import Gateway, GatewayServer
from local.lambdas import Invoker
from local.routes import LocalRoutes
from local.scheduler import Scheduler
from local.workers import QueueWorker, settle, workers
from switchboard import catalog

log = logging.getLogger("local")


def quickstart(base_url: str) -> str:
    """What `make dev` prints once the stack answers."""
    signup = '{"email":"you@example.com","password":"lantern quasar velvet plumbing","account_name":"Acme"}'
    return "\n".join(
        [
            f"Switchboard is running at {base_url} (moto for AWS, sandbox carriers; Ctrl-C stops it)",
            f"  the console:  {base_url}/console  (sign up there; the confirmation link: {base_url}/_local/outbox)",
            f"  1. sign up:  curl -X POST {base_url}/v1/signup -H 'content-type: application/json' -d '{signup}'",
            f"  2. read the verification e-mail (and its token):  curl {base_url}/_local/outbox",
            f"  3. the API docs:  {base_url}/docs  (OpenAPI document: {base_url}/openapi.json)",
        ]
    )


class Stack:
    """The platform on one machine; `start()` returns once every part answers, `stop()` frees every port."""

    def __init__(self, port: int = 8080, host: str = "127.0.0.1", stage: str = provision.STAGE) -> None:
        self.host = host
        self.port = port
        self.stage = stage  # `local`; tests may run a deployed stage's rules (real adapters) on this machine
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto: Any = None
        self._server: GatewayServer | None = None
        self.workers: list[QueueWorker] = []
        self.operators_file = operators.path_from_environment()
        self.operators: list[operators.Credential] = []

    @property
    def base_url(self) -> str:
        """Where the gateway listens."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind the gateway port first (a busy port fails fast), then moto, provisioning, and the threads."""
        invoker = Invoker()
        gateway = Gateway(invoker=invoker, port=self.port, operator_keys=operators.Keys(self.operators_file))
        self._server = GatewayServer(gateway, self.port, self.host)
        self.port = gateway.port = self._server.server_address[1]
        # New operator keys at every start: only this stack (and whoever may read the 0600 file) knows them.
        self.operators = operators.issue(self.operators_file, self.base_url)

        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - heavy: loaded only when a stack starts

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        provisioned = provision.provision(
            endpoint_url=f"http://{moto_host}:{moto_port}", public_base_url=self.base_url, stage=self.stage
        )
        provision.apply(provisioned.env)
        invoker.use_environments(provisioned.environments)

        import boto3  # noqa: PLC0415

        scheduler = Scheduler(catalog.FUNCTIONS, invoker)
        sqs = boto3.session.Session().client("sqs")
        mail_queue = provisioned.queue_urls[catalog.queue("Mail").id]
        local_routes = LocalRoutes(gateway, scheduler, settle_mail=lambda: settle(sqs, mail_queue))
        local_routes.install()
        self.workers = workers(catalog.FUNCTIONS, provisioned.queue_urls, invoker, sqs)
        self._spawn("gateway", self._server.serve_forever)
        self._spawn("scheduler", lambda: scheduler.run(self._stop))
        self._spawn("sandbox-callbacks", lambda: local_routes.pump_callbacks(self._stop))
        for worker in self.workers:
            self._spawn(f"worker-{worker.function.name}", lambda w=worker: w.run(self._stop))

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop accepting requests, let workers finish their poll, close every socket."""
        from switchboard.carriers import sandbox  # noqa: PLC0415

        self._stop.set()
        sandbox.reset()  # releases a send hanging on a `slow` carrier
        if self._server is not None:
            if self._threads:
                self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._moto is not None:
            self._moto.stop()
