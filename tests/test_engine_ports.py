"""Engine ports claimed machine-wide (`tgi/ports.py`): never the same port for two
supervisors, never a port something has bound, and no claim outliving its holder."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tgi.ports import EnginePorts

HOST = "127.0.0.1"


def test_a_port_claimed_by_one_supervisor_is_skipped_by_another(tmp_path: Path) -> None:
    first = free_port()
    one, two = EnginePorts(HOST, first, tmp_path), EnginePorts(HOST, first, tmp_path)
    a = one.claim()
    b = two.claim()  # nothing has bound `a` yet (the engine is loading): still not handed out
    assert a != b and {a, b} == one.claimed() | two.claimed()
    assert one.claim() not in (a, b)
    one.keep_only({a})  # the engine on the third port was stopped
    one.close()
    assert two.claim() == a  # a port let go of is claimable again
    two.close()


def test_a_bound_port_is_skipped(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = EnginePorts(HOST, taken, tmp_path)
        assert ports.claim() > taken
        assert taken not in ports.claimed()  # not kept either: it is someone else's
        ports.close()


def test_without_a_claims_directory_ports_are_still_distinct(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    ports = EnginePorts(HOST, free_port(), blocker / "claims")
    assert ports.claim() != ports.claim()
    ports.close()


CLAIM_AND_WAIT = """
import sys
from pathlib import Path
from tgi.ports import EnginePorts
ports = EnginePorts("127.0.0.1", int(sys.argv[1]), Path(sys.argv[2]))
print(ports.claim(), flush=True)
sys.stdin.read()
"""


@pytest.mark.slow
def test_a_claim_dies_with_the_process_that_held_it(tmp_path: Path) -> None:
    first = free_port()
    holder = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_WAIT, str(first), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        held = int(holder.stdout.readline())  # type: ignore[union-attr]
        ports = EnginePorts(HOST, held, tmp_path)
        assert ports.claim() != held
        ports.close()
    finally:
        holder.kill()  # no clean-up: the kernel drops the lock with the process
        holder.wait(10)
    ports = EnginePorts(HOST, held, tmp_path)
    assert ports.claim() == held
    ports.close()
