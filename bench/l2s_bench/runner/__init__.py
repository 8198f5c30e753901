"""The suite runner: suites, the quality and speed passes, stored samples, results.json and its verdicts."""
