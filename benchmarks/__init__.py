"""Speed measurements, run from the repository's root as modules: `python -m benchmarks.cpu_lenet_mnist`.

Each script prints what it measured and ends with a `ratio=` line; `--dry-run` checks in seconds that it still
works (tests/test_benchmarks.py runs every one that way). textbook.py holds the baseline the training benchmarks
race fit against, grading_setup.py what the grading benchmarks share.
"""
