"""Reading Prometheus text: {(name, frozenset(labels)): value}."""
from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.data[:300]
    return parse(response.get_data(as_text=True))
