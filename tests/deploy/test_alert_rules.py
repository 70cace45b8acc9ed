"""The Prometheus rules every overlay ships (ConfigMap `lre-alert-rules`), as CI checks them:
each overlay's rendered rule files pass `promtool check rules`, and Prometheus's own rule
engine (`promtool test rules`) runs the verification desk's alerts over series shaped as
three replicas export them: the queue gauges the same on every replica (read from
PostgreSQL), the decision histogram split between the replicas that committed them. A
broken rule shows that the check does fail.

`promtool` is required, not optional: without it these tests fail (CI installs Debian's
`prometheus`). LRE_PROMTOOL names another binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_manifests import K8S, OVERLAYS, by_kind, kubectl, render

__all__ = ["kubectl"]  # the fixture, shared with the manifests' checks

RULES = "verification-desk.rules.yaml"
TARGETS = "verification-desk-targets.rules.yaml"
PODS = ("lre-verification-7d9c-a", "lre-verification-7d9c-b", "lre-verification-7d9c-c")


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which(os.environ.get("LRE_PROMTOOL", "promtool"))
    if binary is None:
        pytest.fail(
            "promtool is missing: install it (apt-get install -y prometheus) to check the alert rules"
        )
    return binary


def rule_files(kubectl: str, overlay: str, directory: Path) -> list[Path]:
    """The overlay's rule files as the cluster gets them, written into `directory`."""
    config_maps = by_kind(render(kubectl, K8S / "overlays" / overlay), "ConfigMap")
    data: dict[str, str] = config_maps["lre-alert-rules"]["data"]
    assert sorted(data) == sorted([RULES, TARGETS])
    paths = []
    for name, text in data.items():
        path = directory / name
        path.write_text(text)
        paths.append(path)
    return paths


def promtool_run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def alert(name: str) -> dict[str, Any]:
    groups = yaml.safe_load((K8S / "base" / "alerts" / RULES).read_text())["groups"]
    return next(rule for group in groups for rule in group["rules"] if rule.get("alert") == name)


def rendered_annotations(name: str, value: str) -> dict[str, str]:
    """The alert's annotations as Prometheus renders them for `value`."""
    rendered = {}
    for key, text in alert(name)["annotations"].items():
        for template in ("{{ $value | humanizeDuration }}", "{{ $value }}"):
            text = text.replace(template, value)
        rendered[key] = text
    return rendered


def on_every_replica(series: str, values: str) -> list[dict[str, str]]:
    return [{"series": series.replace("}", f', pod="{pod}"}}'), "values": values} for pod in PODS]


def firing(name: str, value: str) -> list[dict[str, Any]]:
    return [
        {
            "exp_labels": {"namespace": "lre", "severity": "warning"},
            "exp_annotations": rendered_annotations(name, value),
        }
    ]


def run_rule_tests(promtool: str, files: list[Path], tests: list[dict[str, Any]], directory: Path) -> None:
    spec = directory / "desk-alerts.test.yaml"
    spec.write_text(
        yaml.safe_dump({"rule_files": [str(p) for p in files], "evaluation_interval": "1m", "tests": tests})
    )
    result = promtool_run(promtool, "test", "rules", spec)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_ships_rule_files_prometheus_accepts(
    kubectl: str, promtool: str, overlay: str, tmp_path: Path
) -> None:
    result = promtool_run(promtool, "check", "rules", *rule_files(kubectl, overlay, tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout
    assert "SUCCESS: 3 rules found" in result.stdout


def test_a_broken_rule_fails_the_check(promtool: str, tmp_path: Path) -> None:
    text = (K8S / "base" / "alerts" / RULES).read_text()
    assert "max by (namespace) (lre_verification_oldest_undecided_seconds)" in text
    broken = tmp_path / RULES
    broken.write_text(
        text.replace("max by (namespace) (lre_verification_oldest_undecided_seconds)", "max by (", 1)
    )

    result = promtool_run(promtool, "check", "rules", broken)

    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_the_oldest_case_alert_fires_once_past_two_hours_whatever_the_replicas(
    kubectl: str, promtool: str, tmp_path: Path
) -> None:
    # Every replica reads the same oldest case: 100 minutes at first, a minute older each minute.
    series = on_every_replica('lre_verification_oldest_undecided_seconds{namespace="lre"}', "6000+60x60")
    name = "LreVerificationOldestCaseOverTarget"
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                # Past 2 hours at 20 minutes, pending for 5 minutes before it fires.
                {"eval_time": "22m", "alertname": name, "exp_alerts": []},
                {"eval_time": "30m", "alertname": name, "exp_alerts": firing(name, "2h 10m 0s")},
            ],
        }
    ]

    run_rule_tests(promtool, rule_files(kubectl, "prod", tmp_path), tests, tmp_path)


def test_a_development_cluster_takes_its_own_looser_target(
    kubectl: str, promtool: str, tmp_path: Path
) -> None:
    series = on_every_replica('lre_verification_oldest_undecided_seconds{namespace="lre"}', "6000+60x60")
    name = "LreVerificationOldestCaseOverTarget"
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": "30m", "alertname": name, "exp_alerts": []}],
        }
    ]

    run_rule_tests(promtool, rule_files(kubectl, "dev", tmp_path), tests, tmp_path)


def test_the_queue_alert_counts_the_undecided_cases_once_not_once_per_replica(
    kubectl: str, promtool: str, tmp_path: Path
) -> None:
    # 20 waiting and 15 held by agents (35, over production's 30), on each of three replicas;
    # cases waiting on the recipient's documents are not the desk's queue.
    series = [
        *on_every_replica(
            'lre_verification_cases{namespace="lre", state="pending", policy="default"}', "20x30"
        ),
        *on_every_replica(
            'lre_verification_cases{namespace="lre", state="in_review", policy="cnb"}', "15x30"
        ),
        *on_every_replica(
            'lre_verification_cases{namespace="lre", state="awaiting_documents", policy="default"}', "100x30"
        ),
    ]
    name = "LreVerificationQueueOverTarget"
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": name, "exp_alerts": []},
                {"eval_time": "20m", "alertname": name, "exp_alerts": firing(name, "35")},
            ],
        }
    ]

    run_rule_tests(promtool, rule_files(kubectl, "prod", tmp_path), tests, tmp_path)


def decisions(pod: str, per_minute: dict[str, float]) -> list[dict[str, str]]:
    """One replica's decision histogram, growing by `per_minute` decisions in each bucket."""
    series = []
    for le in ("3600", "14400", "21600", "+Inf"):
        rate = sum(n for bucket, n in per_minute.items() if float(bucket) <= float(le))
        labels = f'namespace="lre", pod="{pod}", outcome="approved", policy="default", le="{le}"'
        series.append(
            {"series": f"lre_verification_decision_seconds_bucket{{{labels}}}", "values": f"0+{rate}x300"}
        )
    total = sum(per_minute.values())
    labels = f'namespace="lre", pod="{pod}", outcome="approved", policy="default"'
    series.append(
        {"series": f"lre_verification_decision_seconds_count{{{labels}}}", "values": f"0+{total}x300"}
    )
    return series


def test_the_decision_time_alert_sums_the_replicas_histograms_and_fires_on_a_slow_p95(
    kubectl: str, promtool: str, tmp_path: Path
) -> None:
    # Two replicas decide; every decision took between 4 and 6 hours after the documents came.
    slow = [*decisions(PODS[0], {"21600": 0.1}), *decisions(PODS[1], {"21600": 0.05})]
    # The same volume within the hour.
    fast = [*decisions(PODS[0], {"3600": 0.1}), *decisions(PODS[1], {"3600": 0.05})]
    name = "LreVerificationDecisionTimeOverTarget"
    p95 = "namespace:lre_verification_decision_seconds:p95_6h"
    tests = [
        {
            "interval": "1m",
            "input_series": slow,
            "promql_expr_test": [
                # Within the (4 h, 6 h] bucket, 95% of the way: 14400 + 0.95 × 7200.
                {
                    "expr": p95,
                    "eval_time": "3h",
                    "exp_samples": [{"labels": f'{p95}{{namespace="lre"}}', "value": 21240}],
                }
            ],
            "alert_rule_test": [
                {"eval_time": "3h", "alertname": name, "exp_alerts": firing(name, "5h 54m 0s")},
            ],
        },
        {
            "interval": "1m",
            "input_series": fast,
            "alert_rule_test": [{"eval_time": "3h", "alertname": name, "exp_alerts": []}],
        },
    ]

    run_rule_tests(promtool, rule_files(kubectl, "prod", tmp_path), tests, tmp_path)


def test_a_slow_decision_among_too_few_does_not_fire(kubectl: str, promtool: str, tmp_path: Path) -> None:
    # Four decisions in six hours, all slow: no trend yet.
    few = decisions(PODS[0], {"21600": 0.01})
    name = "LreVerificationDecisionTimeOverTarget"
    tests = [
        {
            "interval": "1m",
            "input_series": few,
            "alert_rule_test": [{"eval_time": "5h", "alertname": name, "exp_alerts": []}],
        }
    ]

    run_rule_tests(promtool, rule_files(kubectl, "prod", tmp_path), tests, tmp_path)
