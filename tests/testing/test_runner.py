"""``python -m feldera_events.testing`` serves until SIGINT and exits cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request


def test_standalone_server_and_sigint() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feldera_events.testing",
            "--port",
            "0",
            "--pipelines",
            "2",
            "--speed",
            "50",
            "--api-key",
            "apikey:k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        url = line.split("listening on ")[1].split()[0]
        request = urllib.request.Request(
            f"{url}/v0/pipelines/pipeline-2/events/latest",
            headers={"Authorization": "Bearer apikey:k"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["deployment_resources_status"] == "Stopped"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (0, 130)
    assert "Traceback" not in err
