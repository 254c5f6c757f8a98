"""Retention by hand (issue 16), as an operator runs it: `cora-ocr jobs purge` and the other
administration commands in processes of their own (tests/integration/test_retention.py
tests the purge itself)."""

from __future__ import annotations

from tests.support.processes import run


def test_the_purge_command(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "db", "upgrade").returncode == 0
    counted = run(cli_env, "jobs", "purge", "--older-than", "30", "--dry-run")
    assert counted.returncode == 0 and counted.stdout.startswith("0 jobs ended before ")
    assert "would be purged" in counted.stdout
    done = run(cli_env, "jobs", "purge", "--older-than", "30")
    assert done.returncode == 0 and "purged, with their history" in done.stdout
    refused = run(cli_env, "jobs", "purge", "--older-than", "-1")
    assert refused.returncode == 2 and "--older-than" in refused.stderr


def test_admin_commands_print_no_migration_chatter(cli_env: dict[str, str]) -> None:
    first = run(cli_env, "jobs", "list")  # migrates the new database: those lines are news
    assert first.returncode == 0 and "Running upgrade" in first.stderr
    assert "Context impl" not in first.stderr and "Will assume" not in first.stderr
    again = run(cli_env, "jobs", "list")
    assert again.returncode == 0 and again.stderr == "", again.stderr
