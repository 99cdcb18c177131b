#!/usr/bin/env python3
"""Runs every PromQL query of the Grafana dashboard against real data.

Starts a real local cluster (tq-broker + 2 tq-workers, each serving metrics
on an ephemeral loopback port), a real Prometheus scraping them every second
and evaluating deploy/prometheus/tq-rules.yml, runs a job through tq-client,
and then requires that every panel query of the dashboard parses and returns
data, that every tq_ metric the dashboard names exists, and that the
recording rules produce data. A misspelt metric, a label the binaries do not
export or a query that does not parse fails the test.

Usage: dashboard_test.py --broker=BIN --worker=BIN --client=BIN
           --dashboard=JSON --rules=YML [--prometheus=BIN]
Exit 0 = pass, 1 = fail, 77 = skipped (no prometheus binary).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# Grafana's built-in variables, replaced as Grafana would for a short range.
# 1m windows cover the whole test, so rates see the job that ran.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "5s",
    "$__range": "1m",
}
DEADLINE_S = 60


class Process:
    """A child process whose stdout and stderr lines are collected."""

    def __init__(self, name, argv):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._pump, args=(stream,),
                             daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for_line(self, pattern, timeout_s=10):
        """The first match of `pattern` in an output line, or raises."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for line in self.lines:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name}: no line matching {pattern!r}; output:\n"
                        + "\n".join(self.lines))
                self.cond.wait(min(left, 0.5))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def metrics_port(process):
    # The binaries print the bound metrics address on a line naming "metrics"
    # (e.g. "metrics on http://127.0.0.1:40123/metrics").
    match = process.wait_for_line(r"(?i)metrics\b.*?:(\d+)(?:/|\b)")
    return int(match.group(1))


def free_port():
    # Prometheus cannot report an ephemeral port, so take one the kernel
    # hands out and release it just before Prometheus binds it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout_s=5):
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return response.status, response.read().decode()


def poll(what, fn, timeout_s=DEADLINE_S):
    """Calls fn until it returns a truthy value; raises at the deadline."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError) as e:
            last_error = e
        time.sleep(0.2)  # polling interval of a condition, not a wait
    raise RuntimeError(f"timed out waiting for {what} (last error: {last_error})")


class Prometheus:
    def __init__(self, base_url):
        self.base_url = base_url

    def query(self, expr):
        """(status, result list or error text) of an instant query."""
        url = (self.base_url + "/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        try:
            _, body = http_get(url)
        except urllib.error.HTTPError as e:  # 400 = the query does not parse
            return "error", json.loads(e.read().decode()).get("error", str(e))
        reply = json.loads(body)
        if reply["status"] != "success":
            return "error", reply.get("error", body)
        return "success", reply["data"]["result"]

    def has_data(self, expr):
        status, result = self.query(expr)
        return status == "success" and len(result) > 0

    def metric_names(self):
        _, body = http_get(self.base_url + "/api/v1/label/__name__/values")
        return set(json.loads(body)["data"])


def dashboard_queries(dashboard):
    """(panel title, expr) for every target of every panel, rows included."""
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return out


def substitute(expr):
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable left in {expr!r}")
    return expr


def rule_records(rules_path):
    # The rules file is YAML; the record names are simple enough to find
    # without a YAML parser (not in Python's standard library).
    with open(rules_path) as f:
        return re.findall(r"^\s*- record:\s*(\S+)\s*$", f.read(), re.M)


def run(args, tmp):
    processes = []
    try:
        broker = Process("tq-broker", [
            args.broker, "--listen=tcp://127.0.0.1:0",
            "--metrics-listen=127.0.0.1:0"])
        processes.append(broker)
        endpoint = broker.wait_for_line(r"listening on (\S+)").group(1)
        broker_port = metrics_port(broker)
        worker_ports = []
        for i in range(2):
            worker = Process(f"tq-worker-{i}", [
                args.worker, f"--broker={endpoint}", "--threads=1",
                f"--name=w{i}", "--metrics-listen=127.0.0.1:0"])
            processes.append(worker)
            worker_ports.append(metrics_port(worker))

        shutil.copy(args.rules, os.path.join(tmp, "tq-rules.yml"))
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [tq-rules.yml]
scrape_configs:
  - job_name: tq-broker
    static_configs: [{{targets: ["127.0.0.1:{broker_port}"]}}]
  - job_name: tq-worker
    static_configs:
      - targets: [{", ".join(f'"127.0.0.1:{p}"' for p in worker_ports)}]
""")
        prom_port = free_port()
        prometheus = Process("prometheus", [
            args.prometheus, f"--config.file={config}",
            f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
            f"--web.listen-address=127.0.0.1:{prom_port}"])
        processes.append(prometheus)
        base = f"http://127.0.0.1:{prom_port}"
        prom = Prometheus(base)
        poll("Prometheus /-/ready", lambda: http_get(base + "/-/ready")[0] == 200)
        poll("first scrape of all three targets",
             lambda: prom.query('sum(up{job=~"tq-.*"})')[1]
             and float(prom.query('sum(up{job=~"tq-.*"})')[1][0]["value"][1]) == 3)

        # A job long enough (~2 s on 2 threads) to be seen mid-run by scrapes.
        client = subprocess.run(
            [args.client, f"--broker={endpoint}", "map", "spin", "1", "2000",
             "--param=us=2000", "--format=tsv"],
            capture_output=True, text=True, timeout=DEADLINE_S)
        if client.returncode != 0 or len(client.stdout.splitlines()) != 2000:
            raise RuntimeError(f"tq-client failed ({client.returncode}): "
                               f"{client.stdout[-500:]}{client.stderr}")
        poll("Prometheus to scrape the finished job", lambda: prom.has_data(
            'tq_broker_jobs_finished_total{outcome="completed"} >= 1'))
        poll("Prometheus to scrape all 2000 items", lambda: prom.has_data(
            "tq_broker_items_completed_total >= 2000"))
        # Recording rules run every second; wait for one pass after the job.
        poll("recording rules", lambda: prom.has_data("tq:items_completed:rate1m > 0"))

        failures = []
        with open(args.dashboard) as f:
            dashboard = json.load(f)
        queries = dashboard_queries(dashboard)
        if len(queries) < 10:
            failures.append(f"only {len(queries)} queries found in the dashboard")
        for title, expr in queries:
            status, result = prom.query(substitute(expr))
            if status != "success":
                failures.append(f"[{title}] {expr}: does not run: {result}")
            elif not result:
                failures.append(f"[{title}] {expr}: returns no data")

        names = prom.metric_names()
        referenced = set()
        for _, expr in queries:
            referenced.update(re.findall(r"\b(tq_[a-z_]+)\b", expr))
        for name in sorted(referenced - names):
            failures.append(f"dashboard names {name}, which no target exports")

        for record in rule_records(args.rules):
            if not prom.has_data(record):
                failures.append(f"recording rule {record} has no data")

        for failure in failures:
            print("FAIL:", failure)
        print(f"{len(queries)} dashboard queries, {len(referenced)} metrics, "
              f"{len(failures)} failures")
        return 1 if failures else 0
    finally:
        for process in reversed(processes):
            process.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("broker", "worker", "client", "dashboard", "rules"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--prometheus", default=shutil.which("prometheus"))
    args = parser.parse_args()
    if not args.prometheus:
        print("SKIP: no prometheus binary (scripts/setup.sh installs it)")
        return 77
    with tempfile.TemporaryDirectory(prefix="tq-dashboard-test-") as tmp:
        try:
            return run(args, tmp)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
            print("FAIL:", e)
            return 1


if __name__ == "__main__":
    sys.exit(main())
