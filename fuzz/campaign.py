"""Run the fuzz harnesses one after another and add up what they did in
results/security/fuzz.json (executions, seconds and findings per harness, over every
campaign run so far). Findings (libFuzzer's crash-/oom-/timeout- files) go to
fuzz/findings/HARNESS/; fix each, then add the input as a regression test.

    python fuzz/campaign.py --seconds 60                 # every harness, 60 s each
    python fuzz/campaign.py --seconds 600 --only container,cae
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = ROOT / "results" / "security" / "fuzz.json"
DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def targets() -> list[str]:
    return ["container"] + sorted(p.stem for p in (HERE / "seeds").glob("*.lpx"))


def run(target: str, seconds: int, rss_mb: int, timeout: int) -> dict:
    corpus = HERE / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    findings = HERE / "findings" / target
    findings.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in findings.iterdir()}
    script = "fuzz_container.py" if target == "container" else "fuzz_codec.py"
    seeds = HERE / "seeds" / target
    env = {**os.environ, "FUZZ_CODEC": target, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(HERE / script), str(corpus), str(seeds), f"-max_total_time={seconds}",
               f"-rss_limit_mb={rss_mb}", f"-timeout={timeout}", f"-artifact_prefix={findings}/",
               "-print_final_stats=1"]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - started
    match = DONE.search(done.stderr)
    found = sorted(p.name for p in findings.iterdir() if p.name not in before)
    return {"executions": int(match.group(1)) if match else 0, "seconds": round(wall, 1),
            "exit": done.returncode, "findings": found,
            "tail": done.stderr.strip().splitlines()[-3:] if done.returncode else []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="per harness")
    parser.add_argument("--only", help="comma-separated harness names (default: all)")
    parser.add_argument("--rss-mb", type=int, default=3072, help="a run over this is a finding (libFuzzer -rss_limit_mb)")
    parser.add_argument("--timeout", type=int, default=20, help="one input over this many seconds is a finding")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else targets()
    totals = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"harnesses": {}, "campaigns": []}
    campaign = {"date": time.strftime("%Y-%m-%d"), "seconds_each": args.seconds, "rss_limit_mb": args.rss_mb,
                "timeout_s": args.timeout, "results": {}}
    for name in names:
        result = run(name, args.seconds, args.rss_mb, args.timeout)
        campaign["results"][name] = result
        total = totals["harnesses"].setdefault(name, {"executions": 0, "seconds": 0.0, "findings": []})
        total["executions"] += result["executions"]
        total["seconds"] = round(total["seconds"] + result["seconds"], 1)
        total["findings"] = sorted(set(total["findings"]) | set(result["findings"]))
        print(name, result, flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({**totals, "campaigns": totals["campaigns"] + [campaign]}, indent=1) + "\n")
    totals["campaigns"].append(campaign)
    RESULTS.write_text(json.dumps(totals, indent=1) + "\n")


if __name__ == "__main__":
    main()
