"""The README's tour, run as written against a real `shipyard serve` on a fresh SQLite database.

Every shell block preceded by `<!-- tour -->` runs with bash, in order, sharing its variables (as one
terminal would). The only substitutions are the ones the README asks of its reader: the token from
the first-run banner, and the port.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.database_independent

README = REPO / "README.md"
TOUR_BLOCK = re.compile(r"<!-- tour -->\n```sh\n(.*?)\n```", re.DOTALL)
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)\n```", re.DOTALL | re.MULTILINE)
MUTATING_CURL = re.compile(r"\bcurl\b.*-X\s*(?:POST|PUT|PATCH|DELETE)\b")
BANNER_TOKEN = re.compile(r"export SHIPYARD_TOKEN=(shp_\S+)")
README_PORT = "127.0.0.1:8000"
STARTUP_TIMEOUT_S = 20.0
COMMAND_TIMEOUT_S = 10.0


def tour_blocks(markdown: str) -> list[str]:
    return TOUR_BLOCK.findall(markdown)


def mutating_curls_without_idempotency_key(markdown: str) -> list[str]:
    """Shell commands (continuation lines joined) that change something without an `Idempotency-Key`."""
    commands = [
        command
        for block in SHELL_BLOCK.findall(markdown)
        for command in block.replace("\\\n", " ").splitlines()
        if MUTATING_CURL.search(command)
    ]
    return [command for command in commands if "Idempotency-Key" not in command]


def split_http(output: str) -> tuple[int, dict[str, str], str]:
    """A `curl -si` answer: its status, its headers (lower-cased names) and its body."""
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {name.lower(): value for name, value in headers.items()}, body


def json_lines(output: str) -> list[dict[str, object]]:
    """Concatenated JSON documents, as several `curl -s` in one block print them."""
    decoder = json.JSONDecoder()
    documents, position = [], 0
    while position < len(output.strip()):
        document, position = decoder.raw_decode(output, position)
        documents.append(document)
        while position < len(output) and output[position].isspace():
            position += 1
    return documents


def check_setup(output: str) -> None:
    assert output == ""


def check_me(output: str) -> None:
    (me,) = json_lines(output)
    assert {"actor_type", "user_id", "token_id", "role", "scopes", "organization", "profile"} <= me.keys()
    assert me["role"] == "owner"
    assert isinstance(me["organization"], dict)
    assert me["organization"]["slug"] == "default"


def check_customer_created(output: str) -> None:
    status, headers, body = split_http(output)
    assert status == 201
    assert headers["location"].startswith("/api/v1/customers/cus_")
    assert json.loads(body)["object"] == "customer"


def check_customer_id(output: str) -> None:
    assert re.fullmatch(r"cus_[0-9A-Z]{26}\n", output)


def check_invoice_created(output: str) -> None:
    (invoice,) = json_lines(output)
    assert (invoice["object"], invoice["status"], invoice["total"]) == ("invoice", "draft", 49250)


def check_finalized_then_paid(output: str) -> None:
    finalized, paid = json_lines(output)
    assert (finalized["status"], paid["status"]) == ("open", "paid")


def check_illegal_transition(output: str) -> None:
    status, headers, body = split_http(output)
    assert (status, headers["content-type"]) == (409, "application/problem+json")
    problem = json.loads(body)
    assert (problem["code"], problem["current_status"]) == ("invalid_state_transition", "paid")
    assert "request_id" in problem


def check_lists(output: str) -> None:
    customers, paid_invoices = json_lines(output)
    assert {"data", "next_cursor"} <= customers.keys()
    assert isinstance(paid_invoices["data"], list)
    assert [invoice["status"] for invoice in paid_invoices["data"]] == ["paid"]


def check_audit(output: str) -> None:
    (page,) = json_lines(output)
    assert isinstance(page["data"], list)
    assert [event["action"] for event in page["data"]] == ["invoice.paid"]


def check_agent_token(output: str) -> None:
    assert re.fullmatch(r"shp_\S+\n", output)


def check_insufficient_scope(output: str) -> None:
    status, headers, body = split_http(output)
    assert status == 403
    assert 'error="insufficient_scope"' in headers["www-authenticate"]
    assert json.loads(body)["missing_scopes"] == ["customers:write"]


def check_operations(output: str) -> None:
    health, _, rest = output.partition("}")
    ready, _, metrics = rest.partition("}")
    assert json.loads(health + "}") == {"status": "ok"}
    assert json.loads(ready + "}") == {"status": "ready"}
    assert "shipyard_build_info" in metrics


# One check per tour block, in the README's order: a block added or removed without its check fails.
CHECKS: list[Callable[[str], None]] = [
    check_setup,
    check_me,
    check_customer_created,
    check_customer_id,
    check_invoice_created,
    check_finalized_then_paid,
    check_illegal_transition,
    check_lists,
    check_audit,
    check_agent_token,
    check_insufficient_scope,
    check_operations,
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """`shipyard serve` as `make run` starts it, on a free port: (port, the banner's token)."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHIPYARD_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env |= {
        "SHIPYARD_PORT": str(port),
        "SHIPYARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SHIPYARD_ENV": "development",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
            [str(REPO / ".venv" / "bin" / "shipyard"), "serve"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while (token := BANNER_TOKEN.search(log.read_text())) is None or not _answers(port):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"shipyard serve did not start:\n{log.read_text()}"
            time.sleep(0.2)
        yield port, token.group(1)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_the_readme_tour_runs_as_written(served: tuple[int, str], tmp_path: Path) -> None:
    port, token = served
    blocks = tour_blocks(README.read_text())
    assert len(blocks) == len(CHECKS), "each <!-- tour --> block of the README needs its check here"
    state = tmp_path / "tour.env"
    state.write_text("")
    for block, check in zip(blocks, CHECKS, strict=True):
        command = block.replace("shp_...", token).replace(README_PORT, f"127.0.0.1:{port}")
        # `set -a` exports every variable a block sets, so `export -p` carries them to the next block.
        script = f"set -a\nsource {state}\n{command}\nexport -p > {state}\n"
        result = subprocess.run(  # noqa: S603 (the README's own commands)
            ["/bin/bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        try:
            check(result.stdout)
        except (AssertionError, ValueError, KeyError) as error:
            pytest.fail(f"the README's tour block\n{command}\nanswered\n{result.stdout}\n({error!r})")


def test_the_finder_of_unkeyed_writes_sees_continued_commands() -> None:
    keyed_write = "curl -s -X POST $API/x \\\n  -H 'Idempotency-Key: k'"
    markdown = f"```sh\n{keyed_write}\ncurl -s -X DELETE $API/y\ncurl -s $API/z\n```"
    assert mutating_curls_without_idempotency_key(markdown) == ["curl -s -X DELETE $API/y"]


def test_every_mutating_example_in_the_readme_sends_an_idempotency_key() -> None:
    assert mutating_curls_without_idempotency_key(README.read_text()) == []
