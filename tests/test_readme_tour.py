"""The README's API tour, run as written against a freshly started platform: every curl example must work."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rectrack.common.launcher import BIN, LocalPlatform

ROOT = Path(__file__).resolve().parents[1]


def tour_script() -> str:
    """Every ```bash block of README.md, in order, as one script."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "README.md has no ```bash tour blocks"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with LocalPlatform(tmp_path_factory.mktemp("tour") / "var",
                       extra_env={"RECTRACK_GATEWAY_RATE_LIMIT_PER_SECOND": "off"}) as running:
        yield running


@pytest.mark.slow
def test_the_readme_tour_works_as_written(platform: LocalPlatform, tmp_path: Path) -> None:
    script = tour_script().replace("http://127.0.0.1:8000", platform.gateway_url)
    script = script.replace(".venv/bin/rectrack", str(BIN / "rectrack"))
    done = subprocess.run(["bash", "-eu", "-c", script], cwd=tmp_path, env=platform.env, capture_output=True,
                          text=True, timeout=180)
    output = done.stdout
    assert done.returncode == 0, f"the tour stopped:\n{output}\n{done.stderr}"
    expected_in_order = [
        "43", '["west-midlands-police"]', "404", '"example-constabulary"', "true", "412", '"merged"',
        '"West Midlands Police"', "204", "401",
        '"issued"', '"in_progress"', '"awaiting_review"', '"in_progress"', '"green"', '"awaiting_review"',
        '"state":"complete"', '["reopen"]', '["approve","awaiting_review","complete","ida","Fully implemented"]',
        "404", "404", '"status":409',
        '"granted"',
        "nothing changed", '"escalated"',
    ]
    position = 0
    for fragment in expected_in_order:
        found = output.find(fragment, position)
        assert found >= 0, f"expected {fragment!r} after position {position} in the tour output:\n{output}"
        position = found
