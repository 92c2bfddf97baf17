"""Entry point: `python3 -m vedapi` validates the configuration, then serves with waitress."""

from __future__ import annotations

import logging
import signal
import sys

from . import config


def main() -> int:
    try:
        cfg = config.load()
    except config.ConfigError as exc:
        print(f"vedapi: configuration error: {exc}", file=sys.stderr, flush=True)
        return config.EX_CONFIG

    from . import leak, logs

    logfile = logs.setup(cfg.data_dir)
    log = logging.getLogger("vedapi")
    log.info("starting vedapi: %s log_file=%s", cfg.summary(), logfile)

    import waitress

    from .app import create_app

    app = create_app(cfg)
    if cfg.leak_mb_per_sec > 0:
        leak.set_rate(cfg.leak_mb_per_sec)

    def stop(signum, _frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        raise SystemExit(0)

    # As PID 1 in a container, SIGTERM is ignored unless handled: `docker stop` would wait 10 s.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server = waitress.create_server(
            app,
            host=cfg.api_bind,
            port=cfg.api_port,
            threads=8,
            ident="vedapi",
            clear_untrusted_proxy_headers=True,
        )
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", cfg.api_bind, cfg.api_port, exc)
        return 1
    log.info("serving on http://%s:%s (waitress, 8 threads)", cfg.api_bind, cfg.api_port)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
