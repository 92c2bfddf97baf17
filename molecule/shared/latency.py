"""The median time of five GET requests to a URL, in milliseconds, as JSON (drill verifies)."""

import json
import statistics
import sys
import time
import urllib.request

url = sys.argv[1]
samples = []
for _ in range(5):
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - the lab's API on loopback
        answer.read()
        status = answer.status
    samples.append(round((time.perf_counter() - started) * 1000, 1))
print(json.dumps({"median_ms": statistics.median(samples), "samples_ms": samples, "status": status}))
