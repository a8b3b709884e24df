"""What both export and the torch-free runtime need: numpy, OpenCV and the standard library only.

* :mod:`edgedet.deploy.preprocess`: the one letterbox + normalise path (training, evaluation, runtimes, demos).
* :mod:`edgedet.deploy.schema`: ``edgedet.json`` (build, validate, read, write).
* :mod:`edgedet.deploy.decode_spec`: the typed ``"decode"`` block of ``edgedet.json``, one class per decode type.
* :mod:`edgedet.deploy.draw`: boxes, class names and scores on an image, a colour per class (every demo).
* :mod:`edgedet.deploy.thresholds`: the default prediction and evaluation score thresholds.
* :mod:`edgedet.deploy.optional`: ``require(module, extra)`` for optional heavy dependencies.
* :mod:`edgedet.deploy.toolchain`: the cached Python 3.10 venv that Paddle-Lite needs (export and runtime).

Layering: :mod:`edgedet.runtime` and :mod:`edgedet.export` import this package; it imports neither, nor torch,
nor :mod:`edgedet.models` / :mod:`edgedet.engine` (``tests/test_architecture.py`` checks it).
"""
