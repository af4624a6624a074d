"""The GPU check: one command that checks, measures and trains on a GPU machine (docs/gpu.md).

``python -m benchmarks.gpu`` (``__main__``) runs the phases of ``phases`` in one ``session``;
``workers`` are the processes that train, ``carry`` what travels to the machine and back.
"""
