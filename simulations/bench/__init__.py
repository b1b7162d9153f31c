"""Benchmark tooling: replay runner and judge (`replay`), the instance generator
(`instances`), synthetic backlogs for re-optimisation (`backlog`)."""
