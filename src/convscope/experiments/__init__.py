"""Experiments: files that describe many runs, their expansion, executors and `convscope run`.

* :mod:`~convscope.experiments.spec`: the experiment-file format and its expansion into runs;
* :mod:`~convscope.experiments.run`: planning, scheduling and resuming an experiment in ``OUT``;
* :mod:`~convscope.experiments.executors`: local process pool (and inline);
* :mod:`~convscope.experiments.ray_executor`: Ray tasks on a local instance or a cluster;
* :mod:`~convscope.experiments.worker`: what one task does in its worker process.
"""
