"""README.md's Python examples, run as doctests.

Every ```python block of the README holding ">>>" runs, in order, in one
namespace named __main__ (as in an interactive session: functions travel by
value). "tcp://broker:5555" becomes the address of a real broker with two
workers, so the cluster examples run too.
"""

from __future__ import annotations

import doctest
import os
import re

from tq_cluster import Cluster


def readme_examples() -> str:
    with open(os.environ["TQ_README"]) as readme:
        text = readme.read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return "\n".join(block for block in blocks if ">>>" in block)


def test_readme_python_examples_run():
    examples = readme_examples()
    assert "tq.Pool()" in examples and "tq.Executor" in examples
    with Cluster(workers=2) as cluster:
        source = examples.replace("tcp://broker:5555", cluster.address)
        test = doctest.DocTestParser().get_doctest(
            source, {"__name__": "__main__"}, "README.md", "README.md", 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        result = runner.summarize(verbose=False)
    assert result.attempted > 5
    assert result.failed == 0
