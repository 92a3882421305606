"""The ``[aggregation]`` settings: TOML defaults, per-instrument tables, flags, and their errors."""

from __future__ import annotations

import pytest

from tickwire.aggregate import PriceRules
from tickwire.cli import main
from tickwire.config import ConfigError, load_config

from .test_config_and_cli import write


def test_an_instrument_table_takes_what_it_leaves_out_from_the_section(tmp_path):
    path = write(tmp_path, """
symbols = ["BTC-USDT", "ETH-USDT"]
[aggregation]
stale_after = 3.0
outliers = "mad"
[aggregation.instruments."ETH-USDT"]
method = "pyth"
""")
    aggregation = load_config(path, {}).aggregation
    assert aggregation.rules("BTC-USDT") == PriceRules(stale_after=3.0, outliers="mad")
    assert aggregation.rules("ETH-USDT") == PriceRules(method="pyth", stale_after=3.0, outliers="mad")


def test_flags_win_over_the_section_and_every_instrument_table(tmp_path):
    path = write(tmp_path, """
[aggregation]
stale_after = 3.0
[aggregation.instruments."BTC-USDT"]
stale_after = 9.0
method = "pyth"
""")
    aggregation = load_config(path, {"aggregation": {"stale_after": 0.5}}).aggregation
    assert aggregation.rules("BTC-USDT") == PriceRules(method="pyth", stale_after=0.5)
    assert aggregation.stale_after == 0.5


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[aggregation]\nmethod = "mean"', "aggregation: method must be one of median, weighted-median, pyth"),
        ("[aggregation]\nstale_after = 0", "aggregation: stale_after must be > 0 seconds"),
        ("[aggregation]\noutlier_band_bp = 0.125", "outlier_band_bp takes at most two decimals"),
        ("[aggregation]\nweight_cap_pct = 120", "weight_cap_pct must be at most 100"),
        ("[aggregation]\nmad_floor_bp = 60", "need 0 <= mad_floor_bp <= mad_cap_bp"),
        ('[aggregation.instruments."BTC-USDT"]\npublish = "always"',
         "aggregation.instruments.BTC-USDT: publish must be one of change, deviation"),
        ('[aggregation.instruments."ETH-USDT"]\nmethod = "pyth"',
         "aggregation.instruments.ETH-USDT: not a consolidated symbol"),
        ('[aggregation]\nmerge_quotes = { USDT = "USDC", USDC = "USD" }',
         "map each currency straight to the one it joins"),
        ("[aggregation]\nstale = 3", "Object contains unknown field `stale`"),
    ],
)
def test_a_setting_that_cannot_work_is_a_one_line_error(tmp_path, toml, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, toml), {})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_merged_quote_currencies_need_equal_scales(tmp_path):
    path = write(tmp_path, """
venues = ["kraken"]
symbols = ["BTC-USD", "BTC-USDT"]
[instruments."BTC-USDT"]
price_scale = 2
[aggregation]
merge_quotes = { USDT = "USD" }
""")
    with pytest.raises(ConfigError, match="BTC-USDT merges into BTC-USD, so it needs the same"):
        load_config(path, {})


def test_the_cli_refuses_bad_aggregation_settings_with_exit_status_2(tmp_path, capsys):
    path = write(tmp_path, '[aggregation]\nmethod = "mean"')
    assert main(["run", "--config", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "method must be one of" in err
    with pytest.raises(SystemExit) as exit_status:
        main(["run", "--stale-after", "-1"])
    assert exit_status.value.code == 2
