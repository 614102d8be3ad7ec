#!/usr/bin/env python3
"""Concurrent clients against `zeroshot serve`, as database backends in server mode send their
calls: each client a keep-alive connection that posts one text at a time to /v1/classify, for a
fixed time. Prints one JSON line: rows/s, p50/p99 latency, and the server's texts-per-batch.

usage: python3 bench/load.py URL --clients N --labels SET [--seconds S] [--warmup S]
(URL like http://127.0.0.1:7872; texts and label sets from bench/workload.json.) Used by
bench/gpu.sh for the server-mode figure on a GPU, where no PostgreSQL runs.
"""
import argparse
import http.client
import json
import os
import random
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def client(url, texts, labels, stop_at, measure_from, out, seed):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    rng = random.Random(seed)
    while True:
        t0 = time.perf_counter()
        if t0 >= stop_at:
            break
        body = json.dumps({"texts": [rng.choice(texts)], "labels": labels})
        conn.request("POST", "/v1/classify", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        t1 = time.perf_counter()
        if r.status != 200:
            raise SystemExit(f"HTTP {r.status}: {data[:200]!r}")
        if t0 >= measure_from and t1 <= stop_at:
            out.append(t1 - t0)


def batch_texts(url):
    """The server's texts-per-batch histogram sum and count (GET /metrics)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    values = {}
    for line in text.splitlines():
        for name in ("zeroshot_batch_texts_sum", "zeroshot_batch_texts_count"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values.get("zeroshot_batch_texts_sum", 0.0), values.get("zeroshot_batch_texts_count", 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--labels", default="87")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    args = ap.parse_args()
    w = json.load(open(os.path.join(HERE, "workload.json")))
    texts, labels = w["texts"], w["label_sets"][args.labels]
    start = time.perf_counter()
    measure_from, stop_at = start + args.warmup, start + args.warmup + args.seconds
    latencies = [[] for _ in range(args.clients)]
    threads = [threading.Thread(target=client, args=(args.url, texts, labels, stop_at, measure_from, latencies[i], i))
               for i in range(args.clients)]
    before = None
    for t in threads:
        t.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    before = batch_texts(args.url)
    for t in threads:
        t.join()
    after = batch_texts(args.url)
    lat = sorted(x for per in latencies for x in per)
    batches = after[1] - before[1]
    result = {"clients": args.clients, "labels": len(labels), "seconds": args.seconds, "rows": len(lat),
              "rows_per_s": round(len(lat) / args.seconds, 2),
              "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
              "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1) if lat else None,
              "texts_per_batch": round((after[0] - before[0]) / batches, 2) if batches else None}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
