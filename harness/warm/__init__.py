"""The warm loop: `python -m harness up` keeps what every run pays for ready between runs.

A daemon (``harness.warm.daemon``) holds, in one process, Airflow imported with its in-process
Execution API built, an ``EmulatedAWS`` and a warm Spark Connect server, and serves run requests
on a unix socket; ``python -m harness run`` delegates to it when it is up
(``harness.warm.client``), ``python -m harness down`` stops it. A guardian process
(``harness.warm.guardian``) is its parent and ends everything the daemon started when the daemon
ends, however it ends. See docs/warm-loop.md.

Modules: ``state`` (the state file, liveness), ``protocol`` (JSON lines on the socket),
``procs`` (parent-death signal, subreaper, finding processes by marker), ``guardian``,
``daemon``, ``pipeline`` (one warm run of the pipeline), ``client`` and ``cli`` (thin commands),
``session`` (the same from Python: the `warm_services` pytest fixture).
"""
