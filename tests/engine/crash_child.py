"""A `loanflow serve`-like process for the crash test: engine + embedded runner, real clock."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factories import registry

from loanflow.engine import Engine, EngineSettings
from loanflow.engine.runner import EmbeddedRunner, Scheduler


def main() -> None:
    engine = Engine(
        EngineSettings(database_url=sys.argv[1], job_lock_seconds=2.0), workers=registry()
    )
    runner = EmbeddedRunner(engine, threads=2, poll_interval=0.1)
    scheduler = Scheduler(engine, interval=0.2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start()
    scheduler.start()
    print("ready", flush=True)
    stop.wait()
    runner.stop()
    scheduler.stop()
    engine.close()


if __name__ == "__main__":
    main()
