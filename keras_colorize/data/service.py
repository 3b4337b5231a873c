"""Start a tf.data service dispatcher and/or workers for `train --data_service`.

    python -m keras_colorize.data.service --dispatcher_port=5050 --workers=2
    python -m keras_colorize.data.service --dispatcher_address=HOST:5050 --worker_port=5051

The first starts a dispatcher on port 5050 and 2 workers in this process;
the second starts one worker on another machine that joins the dispatcher
at HOST:5050. Both block until killed (Ctrl-C or SIGTERM). Training then
runs `train --data_service=grpc://HOST:5050 ...`: the workers read, decode
and crop the photos (the files or TFRecord shards must be readable at the
same paths on the workers); the trainer batches them and runs the Lab
conversion and soft encoding in its compiled step.

Exit status: 0 stopped, 2 usage error (one `error:` line).
"""

import time

from absl import flags

from keras_colorize import command

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags, defined only when run as a program."""
    flags.DEFINE_integer("dispatcher_port", None, "Start a dispatcher on this port.", lower_bound=1)
    flags.DEFINE_string(
        "dispatcher_address", None, "HOST:PORT of a running dispatcher (worker-only process)."
    )
    flags.DEFINE_integer("workers", None, "Start this many workers (on free ports).", lower_bound=0)
    flags.DEFINE_integer("worker_port", None, "Start one worker on this port.", lower_bound=1)


def start_servers(
    dispatcher_port: int | None = None,
    dispatcher_address: str | None = None,
    workers: int = 0,
    worker_port: int | None = None,
) -> tuple[str, list]:
    """Start a dispatcher and/or workers in this process; returns (dispatcher address, servers).

    Args:
        dispatcher_port: start a dispatcher on this port (0: any free port), or None.
        dispatcher_address: the dispatcher the workers join when none is started here.
        workers: how many workers to start on free ports.
        worker_port: start one worker on this port instead.

    Example:

    >>> address, servers = start_servers(dispatcher_port=0, workers=1)
    >>> address.startswith("grpc://localhost:")
    True
    """
    import tensorflow as tf

    from keras_colorize.data.pipeline import service_address

    service = tf.data.experimental.service
    if (dispatcher_port is None) == (dispatcher_address is None):
        raise command.UsageError("give --dispatcher_port (start one here) or --dispatcher_address, not both")
    if workers and worker_port is not None:
        raise command.UsageError("give --workers or --worker_port, not both")
    servers = []
    if dispatcher_port is not None:
        dispatcher = service.DispatchServer(service.DispatcherConfig(port=dispatcher_port))
        servers.append(dispatcher)
        address = dispatcher.target
    else:
        try:
            address = service_address(dispatcher_address)
        except ValueError as error:
            raise command.UsageError(str(error).replace("--data_service", "--dispatcher_address")) from None
    joined = address.removeprefix("grpc://")
    ports = [worker_port] if worker_port is not None else [0] * workers
    for port in ports:
        servers.append(service.WorkerServer(service.WorkerConfig(dispatcher_address=joined, port=port)))
    if not servers:
        raise command.UsageError("nothing to start: give --dispatcher_port and/or --workers / --worker_port")
    return address, servers


@command.handles_errors
def main(argv: list[str]) -> int:
    """Start the servers and block until killed.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    address, servers = start_servers(
        FLAGS.dispatcher_port, FLAGS.dispatcher_address, FLAGS.workers or 0, FLAGS.worker_port
    )
    workers = len(servers) - (FLAGS.dispatcher_port is not None)
    print(f"tf.data service at {address}: {workers} worker(s) in this process; Ctrl-C stops.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__)
