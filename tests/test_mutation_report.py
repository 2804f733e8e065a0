"""`make mutation MODULES=...` on a clone: the report keeps the modules that were not run, as committed."""
from __future__ import annotations

from tests.mutation.modules import TESTS
from tests.mutation.run import earlier_parts, report

COMMITTED = """# Mutation testing: last run

| module | mutants | killed / behaviour-changing | score | equivalent | alive | time | finished |
|---|---|---|---|---|---|---|---|
| tokens | 10 | 9 / 10 | **90.0%** | 0 | 1 | 5 s | 2026-01-01 00:00 UTC |
| jwks | 20 | 20 / 20 | **100.0%** | 1 | 0 | 6 s | 2026-01-01 00:01 UTC |

## tokens: surviving mutants not yet killed

- `old_tokens_survivor` (survived)

## jwks: equivalent mutants (set aside)

- `jwks_equivalent`: why
"""


def test_a_partial_run_replaces_its_modules_and_keeps_the_others_from_the_committed_report():
    tokens = {"module": "tokens", "total": 12, "killed": 12, "equivalent": [], "alive": [], "statuses": {},
              "diffs": {}, "seconds": 7.0, "finished": "2026-02-02 00:00 UTC", "ok": True}
    text = report([tokens], earlier_parts(COMMITTED))
    assert "| tokens | 12 | 12 / 12 | **100.0%** | 0 | 0 | 7 s | 2026-02-02 00:00 UTC |" in text
    assert "| jwks | 20 | 20 / 20 | **100.0%** | 1 | 0 | 6 s | 2026-01-01 00:01 UTC |" in text
    assert "old_tokens_survivor" not in text and "| tokens | 10 |" not in text
    assert "## jwks: equivalent mutants (set aside)\n\n- `jwks_equivalent`: why\n" in text
    assert list(TESTS).index("tokens") < list(TESTS).index("jwks")
    assert text.index("| tokens |") < text.index("| jwks |")


def test_a_module_in_neither_is_left_out():
    assert "| roles |" not in report([], earlier_parts(COMMITTED))
