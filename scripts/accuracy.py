#!/usr/bin/env python3
"""The request assessment measured on real clients of this machine (see ACCURACY.md).

Starts the demo twice (HTTPS with a self-signed certificate, and plain HTTP for the clients
that cannot be told to accept that certificate without automation), has each client open
labelled pages several times, exports the stored request fingerprints with the CLI and prints
the confusion matrix per client, as Markdown. Traffic goes to 127.0.0.1 only.

Usage: scripts/accuracy.py [RUNS]   (needs chromium, chromium-driver, firefox-esr, xvfb, curl,
wget and python3-requests; builds the demo and the CLI first)
"""

import csv
import io
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import requests
import urllib3

urllib3.disable_warnings()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
DISPLAYS = itertools.count()

CHROME_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/124.0.0.0 Safari/537.36")
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# Chrome 124's navigation headers, in its order: what a script copies to pass as Chrome.
CHROME_HEADERS = [
    ("sec-ch-ua", '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("upgrade-insecure-requests", "1"),
    ("user-agent", CHROME_UA),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("sec-fetch-site", "none"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-user", "?1"),
    ("sec-fetch-dest", "document"),
    ("accept-encoding", "gzip, deflate, br"),
    ("accept-language", "en-US,en;q=0.9"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(db, tls):
    port = free_port()
    args = [f"{ROOT}/target/debug/demo", "--port", str(port), "--database-url", db,
            "--without-accounts"]
    if tls:
        args.append("--tls-self-signed")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(base + "/about", verify=False, timeout=1)
            return proc, base
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("the demo did not start")


def run(args, seconds=None, env=None):
    """Runs a client; a browser that stays open is stopped after `seconds`."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    try:
        proc.wait(timeout=seconds or 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def xvfb(args):
    return ["xvfb-run", "-a", "-s", "-screen 0 1280x900x24"] + args


def chromium(url, *flags):
    profile = tempfile.mkdtemp()
    return ["chromium", "--no-sandbox", "--no-first-run", "--ignore-certificate-errors",
            f"--user-data-dir={profile}", *flags, url]


def webdriver(url, headless, hide_webdriver):
    """Opens `url` in Chromium driven over WebDriver (chromedriver's HTTP API)."""
    port = free_port()
    display = None
    env = dict(os.environ)
    if not headless:
        number = 70 + next(DISPLAYS)
        display = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x900x24"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env["DISPLAY"] = f":{number}"
    # chromedriver starts the browser on the display of its own environment.
    driver = subprocess.Popen(["chromedriver", f"--port={port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        args = ["--no-sandbox", "--no-first-run", "--disable-gpu",
                f"--user-data-dir={tempfile.mkdtemp()}"]
        if headless:
            args.append("--headless")
        if hide_webdriver:
            args.append("--disable-blink-features=AutomationControlled")
        options = {"binary": "/usr/bin/chromium", "args": args}
        if hide_webdriver:
            options["excludeSwitches"] = ["enable-automation"]
        caps = {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True,
                                                 "goog:chromeOptions": options}}}

        def call(method, path, body=None):
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                             method=method,
                                             headers={"Content-Type": "application/json"})
            return json.load(urllib.request.urlopen(request, timeout=60))["value"]

        session = call("POST", "/session", caps)["sessionId"]
        call("POST", f"/session/{session}/url", {"url": url})
        time.sleep(2)
        call("DELETE", f"/session/{session}")
    except OSError as error:  # urllib's errors included: one failed run, counted as missing
        print(f"webdriver run failed: {error}", file=sys.stderr)
    finally:
        driver.kill()
        if display:
            display.kill()
            display.wait()


def clients(tls_base, http_base):
    """(name, class, expected reason or None, how to open one labelled URL)."""
    def url(base, name, n):
        return f"{base}/articles/1?client={name}&run={n}"

    def chrome_headers_curl(u):
        args = ["curl", "-sk", "--http2", "-o", "/dev/null"]
        for name, value in CHROME_HEADERS:
            args += ["-H", f"{name}: {value}"]
        run(args + [u])

    def chrome_headers_requests(u):
        session = requests.Session()
        session.headers.clear()
        session.headers.update(CHROME_HEADERS)
        session.get(u, verify=False, timeout=10)

    return [
        ("chromium-xvfb", "person", None,
         lambda n: run(xvfb(chromium(url(tls_base, "chromium-xvfb", n))), seconds=8)),
        ("firefox-xvfb (http)", "person", None,
         lambda n: run(xvfb(["firefox-esr", "--no-remote", "--profile", tempfile.mkdtemp(),
                             url(http_base, "firefox-xvfb", n)]), seconds=12)),
        ("curl", "automated", None,
         lambda n: run(["curl", "-sk", "-o", "/dev/null", url(tls_base, "curl", n)])),
        ("wget", "automated", None,
         lambda n: run(["wget", "-q", "--no-check-certificate", "-O", "/dev/null",
                        url(tls_base, "wget", n)])),
        ("python-requests", "automated", None,
         lambda n: requests.get(url(tls_base, "python-requests", n), verify=False, timeout=10)),
        ("chromium-webdriver-headless", "automated", None,
         lambda n: webdriver(url(tls_base, "chromium-webdriver-headless", n), True, False)),
        ("firefox-headless (http)", "automated", None,
         lambda n: run(["firefox-esr", "--headless", "--no-remote", "--profile",
                        tempfile.mkdtemp(), url(http_base, "firefox-headless", n)], seconds=12)),
        ("curl-as-chrome", "liar", "ua_claims_chrome_tls_not_chromium",
         lambda n: chrome_headers_curl(url(tls_base, "curl-as-chrome", n))),
        ("python-requests-as-chrome", "liar", "ua_claims_chrome_tls_not_chromium",
         lambda n: chrome_headers_requests(url(tls_base, "python-requests-as-chrome", n))),
        ("chromium-as-firefox", "liar", "ua_claims_firefox_tls_not_firefox",
         lambda n: run(xvfb(chromium(url(tls_base, "chromium-as-firefox", n),
                                     f"--user-agent={FIREFOX_UA}")), seconds=8)),
        ("chromium-webdriver-hidden", "liar", "automation_globals",
         lambda n: webdriver(url(tls_base, "chromium-webdriver-hidden", n), False, True)),
    ]


def export(db, what="requests"):
    out = subprocess.run([f"{ROOT}/target/debug/fingerprint", "--database-url", db, "export",
                          what], check=True, capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


def main():
    work = tempfile.mkdtemp()
    tls_db = f"sqlite://{work}/tls.db"
    http_db = f"sqlite://{work}/http.db"
    tls_demo, tls_base = start_demo(tls_db, True)
    http_demo, http_base = start_demo(http_db, False)
    table = clients(tls_base, http_base)
    try:
        for name, _, _, visit in table:
            for n in range(RUNS):
                visit(n)
    finally:
        for demo in (tls_demo, http_demo):
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=30)
    rows = export(tls_db) + export(http_db)
    sessions = {row["session"]: row for row in export(tls_db, "sessions") + export(http_db, "sessions")}
    by_client = {}
    for row in rows:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(row["url"]).query)
        if "client" in query:
            by_client.setdefault(query["client"][0], []).append(row)

    def session_of(row):
        session = sessions.get(row["session"], {})
        findings = json.loads(session.get("findings") or "[]")
        return session.get("verdict", ""), [f["reason"] for f in findings]

    def flagged(verdict):
        return verdict in ("automated", "declared_bot")

    matrix = {}
    print("| client | class | runs | request: human / automated / declared_bot / unknown "
          "| caught by the request | session: assessed / automated | caught by request or session "
          "| request reasons | session reasons |")
    print("| --- | --- | ---: | --- | --- | --- | --- | --- | --- |")
    for name, kind, reason, _ in table:
        label = name.split(" ")[0]
        found = by_client.get(label, [])
        counts = {v: sum(1 for r in found if r["verdict"] == v)
                  for v in ("human", "automated", "declared_bot", "unknown")}
        of_session = [session_of(r) for r in found]
        if kind == "person":
            request_ok = [not flagged(r["verdict"]) for r in found]
            either_ok = [ok and not flagged(s) for ok, (s, _) in zip(request_ok, of_session)]
        elif reason:
            request_ok = [flagged(r["verdict"]) and reason in r["reasons"].split(",")
                          for r in found]
            either_ok = [ok or (flagged(s) and reason in reasons)
                         for ok, (s, reasons) in zip(request_ok, of_session)]
        else:
            request_ok = [flagged(r["verdict"]) for r in found]
            either_ok = [ok or flagged(s) for ok, (s, _) in zip(request_ok, of_session)]
        final = []
        for r, (s, _) in zip(found, of_session):
            final.append("automated" if flagged(s) and r["verdict"] == "human" else r["verdict"])
        for verdict in final:
            matrix.setdefault(kind, {}).setdefault(verdict, 0)
            matrix[kind][verdict] += 1
        assessed = sum(1 for s, _ in of_session if s)
        automated = sum(1 for s, _ in of_session if flagged(s))
        request_reasons = sorted({r["reasons"] or "-" for r in found})
        session_reasons = sorted({",".join(reasons) or "-" for s, reasons in of_session if s})
        print(f"| {name} | {kind} | {len(found)} | {counts['human']} / {counts['automated']} / "
              f"{counts['declared_bot']} / {counts['unknown']} | {sum(request_ok)}/{len(found)} "
              f"| {assessed} / {automated} | {sum(either_ok)}/{len(found)} "
              f"| {'; '.join(request_reasons)} | {'; '.join(session_reasons) or '-'} |")
    print()
    print("| actual \\ assessed (request, or the session when it overrides human) | human | automated | declared_bot | unknown |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("person", "automated", "liar"):
        row = matrix.get(kind, {})
        total = sum(row.values())
        print(f"| {kind} ({total}) | " + " | ".join(str(row.get(v, 0)) for v in
              ("human", "automated", "declared_bot", "unknown")) + " |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
