"""Multi-core mode's pure parts: which CPU each process gets, which worker owns which venue, and
the settings refused before anything starts."""

from __future__ import annotations

import pytest

from tickwire.affinity import cpu_plan, describe_cpus
from tickwire.cli import main
from tickwire.config import ConfigError, load_config
from tickwire.workers import assign_venues


def test_auto_pinning_deals_the_allowed_cpus_round_robin_aggregator_first():
    assert cpu_plan("auto", 3, {1, 0}) == [0, 1, 0]


def test_listed_cpus_are_dealt_in_the_order_given():
    assert cpu_plan([3, 1], 3, range(4)) == [3, 1, 3]


@pytest.mark.parametrize(
    ("pin", "complaint"),
    [([7], "CPU 7 is not available (this process may run on 0-3)"), ([], "no CPU given"),
     ([1, 1], "listed twice"), ("fast", "must be 'auto' or a list")],
)
def test_unusable_pins_are_refused_by_name(pin, complaint):
    with pytest.raises(ValueError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        cpu_plan(pin, 2, range(4))


def test_cpu_sets_read_as_ranges():
    assert describe_cpus({0, 1, 2, 3, 6, 8, 9}) == "0-3,6,8-9"


def test_venues_are_dealt_round_robin_and_no_worker_is_empty():
    assert assign_venues(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]
    assert assign_venues(["a"], 1) == [["a"]]


def test_workers_and_pin_come_from_flags_or_the_process_table(tmp_path):
    path = tmp_path / "tickwire.toml"
    path.write_text('venues = ["binance", "okx"]\n[process]\nworkers = 2\nring_slots = 1024\n')
    config = load_config(str(path), {"process": {"pin": "auto"}})
    assert (config.process.workers, config.process.pin, config.process.ring_slots) == (2, "auto", 1024)


@pytest.mark.parametrize(
    ("process", "others", "complaint"),
    [
        ({"workers": 3}, {"venues": ["binance", "okx"]}, "workers is 3 but there are 2 venues"),
        ({"workers": 1, "ring_slots": 1000}, {}, "ring_slots must be a power of two"),
        ({"workers": 1, "ring_full": "block"}, {}, "ring_full must be one of drop, wait"),
        ({"workers": 1}, {"metrics": "127.0.0.1:0"}, "--metrics serves one process"),
        ({"workers": -1}, {}, "workers must be >= 0"),
        ({"pin": [4096]}, {}, "process.pin: CPU 4096 is not available"),
    ],
)
def test_multi_core_settings_that_cannot_work_are_refused(process, others, complaint):
    with pytest.raises(ConfigError, match=complaint):
        load_config(None, {"process": process, **others})


def test_workers_with_record_exit_2_before_anything_starts(tmp_path, capsys):
    status = main(["run", "--workers", "1", "--record", str(tmp_path / "rec")])
    assert status == 2
    assert "--record records in one process" in capsys.readouterr().err



def test_conflate_on_an_aggregate_node_exits_2_naming_the_roles_it_needs(capsys):
    status = main(["run", "--role", "aggregate", "--nats", "nats://127.0.0.1:4222", "--conflate"])
    assert status == 2
    err = capsys.readouterr().err
    assert "conflate holds a venue connection's quotes: role all or ingest" in err
    assert len(err.strip().splitlines()) == 1
