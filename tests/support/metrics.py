"""Scraping `/metrics` and reading its samples: `scrape(get, token)` parses an answer of the Prometheus text
format into {(sample name, labels): value}; `value(samples, name, **labels)` is one sample (0 when absent:
a counter never incremented has no sample yet)."""
from __future__ import annotations

from typing import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(get: Callable[..., object], token: str) -> Samples:
    """`get` is a Flask test client's or httpx's `get`; the answer must be a 200 in the text format."""
    response = get("/metrics", headers={"Authorization": f"Bearer {token}"})
    status = getattr(response, "status_code")
    text = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
    assert status == 200, text[:500]
    return parse(text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
