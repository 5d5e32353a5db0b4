"""The foundation every feature stands on: options, keys, namespace rules, entries, metrics, the
circuit breaker and the process state with its one ``reset()``. It imports nothing else of the
layer."""
