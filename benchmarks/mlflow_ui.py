"""A finished run's MLflow store through its UI server, over HTTP: python -m benchmarks mlflow_ui
FOLDER starts ``mlflow ui`` on FOLDER/results/mlflow/mlflow.db, lists the experiments and every run
(paged), counts the runs nested under a parent and the finished ones, fetches the UI page, stops
the server, and prints one JSON line."""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def bench_mlflow_ui(folder: str, port: int = 5055) -> None:
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen([str(mlflow), "ui", "--backend-store-uri", f"sqlite:///{Path(folder).resolve()}/results/mlflow/mlflow.db",
                               "--host", "127.0.0.1", "--port", str(port)], cwd=folder, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base, started = f"http://127.0.0.1:{port}", time.time()
    for _ in range(120):
        try:
            urllib.request.urlopen(base + "/health", timeout=2).read()
            break
        except OSError:
            time.sleep(1)
    up = time.time() - started

    def call(path, body):
        request = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(request, timeout=60).read())

    try:
        experiments = call("/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
        ids = [e["experiment_id"] for e in experiments]
        runs, token, pages, searched = [], None, 0, time.time()
        while True:
            answer = call("/api/2.0/mlflow/runs/search", {"experiment_ids": ids, "max_results": 1000,
                                                          **({"page_token": token} if token else {})})
            runs += answer.get("runs", [])
            pages += 1
            token = answer.get("next_page_token")
            if not token:
                break
        search_s = time.time() - searched
        tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
        page = urllib.request.urlopen(base + "/", timeout=30).read().decode()
        print(json.dumps({"benchmark": "mlflow_ui", "server_up_s": round(up, 1), "experiments": [e["name"] for e in experiments],
                          "runs": len(runs), "pages": pages, "search_s": round(search_s, 2),
                          "nested_under": len({t.get("mlflow.parentRunId") for t in tags} - {None}),
                          "children": sum(1 for t in tags if t.get("mlflow.parentRunId")),
                          "finished": sum(1 for r in runs if r["info"]["status"] == "FINISHED"),
                          "ui_is_mlflow": "mlflow" in page.lower()}), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
