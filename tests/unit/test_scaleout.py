"""Scale-out on NATS without a server: subjects, wire structs, shards, arbitration of copies from
several ingest nodes, venue staleness, and the aggregate node's handling of each message."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.cli import main
from tickwire.config import load_config
from tickwire.model import ConsolidatedQuote, Quote, Trade
from tickwire.scaleout.aggregate_node import AggregateNode, NatsPriceSink
from tickwire.scaleout.arbitration import (
    TRADE_IDS_KEPT,
    VENUE_WIDE_UPDATE_IDS,
    Liveness,
    QuoteArbiter,
    TradeArbiter,
)
from tickwire.scaleout.codec import (
    Envelope,
    Shard,
    VenueStatus,
    event_of,
    event_subject,
    parse_shard,
    price_subject,
    status_subject,
    symbol_filter,
    widen,
)
from tickwire.venues.registry import VENUES

from .aggregator_helpers import ListSink

SYMBOL = "BTC-USDT"
SECOND = 1_000_000_000

symbols = st.from_regex(r"[A-Z0-9]{1,8}-[A-Z0-9]{1,8}(-PERP)?", fullmatch=True)


class RecordingLink:
    """A NATS link that keeps what is published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, subject: str, payload: bytes) -> bool:
        self.published.append((subject, payload))
        return True


def aggregate_node(*flags: str) -> tuple[AggregateNode, ListSink]:
    overrides: dict[str, object] = {
        "role": "aggregate", "symbols": [SYMBOL], "channels": ["bbo", "trades"],
        "nats": {"url": "nats://127.0.0.1:4222", "node": "agg", "heartbeat": 0.5},
    }
    config = load_config(None, overrides)
    sink = ListSink()
    return AggregateNode(config, sinks=[sink]), sink


def quote(venue: str, bid: int, update_id: int = 0, ask_offset: int = 100) -> Quote:
    return Quote(venue, SYMBOL, bid, 10**8, bid + ask_offset, 2 * 10**8, recv_ns=1000 + bid,
                 update_id=update_id)


def wire(node: str, seq: int, event: Quote | Trade, sent_ns: int = 2000, scale: int = 8) -> bytes:
    return msgspec.msgpack.encode(Envelope(node, seq, sent_ns, scale, 8, event))


def deliver(node: AggregateNode, sender: str, seq: int, event: Quote | Trade, arrive_ns: int = 3000,
            **kwargs: int) -> None:
    kind = "quote" if isinstance(event, Quote) else "trade"
    subject = event_subject(kind, event.venue, event.symbol)
    node.on_message(subject, wire(sender, seq, event, **kwargs), arrive_ns)


def status(node: AggregateNode, sender: str, venue: str, live: bool, arrive_ns: int = 3000) -> None:
    message = VenueStatus(sender, venue, live, arrive_ns, SECOND, arrive_ns, 0, 0)
    node.on_status(msgspec.msgpack.encode(message), arrive_ns)


def bids(sink: ListSink) -> list[int]:
    return [update.bid for update in sink.updates]


# -- subjects, wire structs, shards ---------------------------------------------------------------


def test_subjects_name_kind_venue_and_symbol():
    assert event_subject("quote", "binance", SYMBOL) == "tickwire.quote.binance.BTC-USDT"
    assert symbol_filter(SYMBOL) == "tickwire.*.*.BTC-USDT"
    assert status_subject("*") == "tickwire.status.*"
    assert price_subject(SYMBOL) == "tickwire.price.BTC-USDT"


@given(st.integers(0, 2**63 - 1), st.integers(1, 2**63 - 1), st.integers(0, 2**64 - 1))
def test_an_envelope_carries_every_integer_of_its_event_exactly(bid, size, update_id):
    event = Quote("okx", SYMBOL, bid, size, bid + 1, size, 1795519439583868073, 1795519439583000000, update_id)
    data = msgspec.msgpack.encode(Envelope("ingest-a", 7, 1795519439583869000, 8, 8, event))
    assert msgspec.msgpack.decode(data, type=Envelope[Quote]) == Envelope(
        "ingest-a", 7, 1795519439583869000, 8, 8, event
    )


@given(st.integers(0, 2**128 - 1))
def test_a_trade_id_of_up_to_128_bits_arrives_whole(trade_id):
    trade = Trade("bybit_linear", "BTC-USDT-PERP", 6_700_000_000_000, 10**6, -1, trade_id, 3, 4)
    message = Envelope("n", 1, 2, 8, 8, trade)
    try:
        data = msgspec.msgpack.encode(message)
    except OverflowError:  # what the ingest node does for ids MessagePack cannot hold
        data = msgspec.msgpack.encode(widen(message))
    assert event_of(msgspec.msgpack.decode(data, type=Envelope[Trade])) == trade


@given(symbols, st.integers(1, 32))
def test_every_symbol_belongs_to_exactly_one_shard(symbol, count):
    owners = [k for k in range(1, count + 1) if Shard(k, count).owns(symbol)]
    assert len(owners) == 1


@pytest.mark.parametrize("text", ["2", "0/4", "5/4", "a/b", "1/0", "-1/2", "1/2/3"])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_shard_two_of_four_parses():
    assert parse_shard("2/4") == Shard(2, 4)


def test_every_venue_says_whether_its_update_ids_order_its_quotes_across_connections():
    assert set(VENUE_WIDE_UPDATE_IDS) == set(VENUES)


# -- arbitration ----------------------------------------------------------------------------------


def test_with_venue_wide_ids_the_first_copy_counts_from_either_node():
    arbiter = QuoteArbiter(keyed=True)
    assert arbiter.admit("a", 10)
    assert not arbiter.admit("b", 10)  # the same update, later
    assert arbiter.admit("b", 11)  # b was faster this time
    assert not arbiter.admit("a", 11)
    assert not arbiter.admit("a", 9)  # older than what was taken


def test_without_ids_the_first_node_leads_until_it_is_forgotten():
    arbiter = QuoteArbiter(keyed=False)
    assert arbiter.admit("a", 0)
    assert not arbiter.admit("b", 0)
    arbiter.forget("b")  # not the leader: nothing changes
    assert not arbiter.admit("b", 0)
    arbiter.forget("a")
    assert arbiter.admit("b", 0) and not arbiter.admit("a", 0)


def test_a_reset_accepts_ids_that_started_again():
    arbiter = QuoteArbiter(keyed=True)
    assert arbiter.admit("a", 1000)
    arbiter.reset()
    assert arbiter.admit("a", 3)


def test_a_trade_counts_once_and_old_ids_are_forgotten_in_bounded_memory():
    arbiter = TradeArbiter()
    assert arbiter.admit(1) and not arbiter.admit(1)
    for trade_id in range(2, TRADE_IDS_KEPT + 2):
        assert arbiter.admit(trade_id)
    assert arbiter.admit(1)  # pushed out by TRADE_IDS_KEPT newer ids


def test_a_venue_is_live_while_any_nodes_copy_is():
    liveness = Liveness(default_stale_after_ns=SECOND)
    a, b = liveness.source("a", "binance"), liveness.source("b", "binance")
    assert liveness.came_up(a, 0)  # the venue was stale
    assert not liveness.came_up(b, 0)  # it was live already
    assert not liveness.went_down(a)
    assert liveness.venue_live("binance")
    assert liveness.expired(SECOND // 2) == []
    assert liveness.expired(2 * SECOND) == [b]
    assert liveness.went_down(b) and not liveness.venue_live("binance")


# -- the aggregate node, message by message -------------------------------------------------------


@given(st.data())
@pytest.mark.parametrize("venue", ["binance", "kraken"])  # venue-wide ids, and none
def test_two_nodes_copies_in_any_interleaving_give_the_sequence_once(venue, data):
    sequence = [quote(venue, 100 + step * 3 % 7, update_id=step + 1) for step in range(12)]
    order = data.draw(st.permutations(["a"] * len(sequence) + ["b"] * len(sequence)))
    node, sink = aggregate_node()
    sent = {"a": 0, "b": 0}
    for sender in order:
        event = sequence[sent[sender]]
        sent[sender] += 1
        deliver(node, sender, sent[sender], event)
    single, single_sink = aggregate_node()
    for seq, event in enumerate(sequence, 1):
        deliver(single, "a", seq, event)
    assert bids(sink) == bids(single_sink)
    assert node.duplicates == len(sequence)
    assert node.lost == 0


def test_a_gap_in_a_nodes_numbering_is_counted_lost_and_a_restart_is_not():
    node, _ = aggregate_node()
    for seq in (1, 2, 5):
        deliver(node, "a", seq, quote("binance", 100 + seq, update_id=seq))
    assert node.lost == 2
    deliver(node, "a", 1, quote("binance", 200, update_id=6))  # the node started again
    assert (node.lost, node.restarts) == (2, 1)


def test_integers_at_another_scale_are_refused_not_misread():
    node, sink = aggregate_node()
    deliver(node, "a", 1, quote("binance", 100, update_id=1), scale=6)
    assert sink.updates == [] and node.rejected == {"scale_or_name_mismatch": 1}


def test_subjects_of_other_instruments_or_unknown_venues_are_counted_and_dropped():
    node, sink = aggregate_node()
    event = quote("binance", 100, 1)
    node.on_message("tickwire.quote.binance.ETH-USDT", wire("a", 1, event), 3000)
    node.on_message("tickwire.quote.nowhere.BTC-USDT", wire("a", 1, event), 3000)
    node.on_message("tickwire.quote.binance.BTC-USDT", b"\x93not an envelope", 3000)
    assert sink.updates == []
    assert node.rejected == {"unknown_subject": 2, "malformed": 1}


def test_a_venue_whose_only_node_says_it_is_down_leaves_the_price_until_it_quotes_again():
    node, sink = aggregate_node()
    deliver(node, "a", 1, quote("binance", 100, 1))
    deliver(node, "b", 1, quote("kraken", 101))
    status(node, "a", "binance", live=False)
    assert sink.updates[-1].n_venues == 1 and sink.updates[-1].bid_venues == ("kraken",)
    assert node.stale_marks == {"binance": 1}
    deliver(node, "a", 2, quote("binance", 102, 2))
    assert sink.updates[-1].n_venues == 2 and sink.updates[-1].bid == 102


def test_a_silent_node_makes_its_venue_stale_after_its_announced_time():
    node, sink = aggregate_node()
    status(node, "a", "kraken", live=True, arrive_ns=0)
    deliver(node, "a", 1, quote("kraken", 100), arrive_ns=0)
    node.sweep(SECOND // 2, 0)
    assert node.liveness.venue_live("kraken")
    node.sweep(2 * SECOND, 0)
    assert not node.liveness.venue_live("kraken")
    assert sink.updates[-1].n_venues == 0


def test_when_the_leading_node_goes_down_the_other_copy_takes_over():
    node, sink = aggregate_node()
    deliver(node, "a", 1, quote("kraken", 100))
    deliver(node, "b", 1, quote("kraken", 100))
    deliver(node, "b", 2, quote("kraken", 105))  # b's copy is not taken while a leads
    assert bids(sink) == [100]
    status(node, "a", "kraken", live=False)
    deliver(node, "b", 3, quote("kraken", 106))
    assert bids(sink) == [100, 106] and node.stale_marks == {}


def test_each_trade_reaches_the_sinks_once_however_many_nodes_carry_it():
    node, sink = aggregate_node()
    trade = Trade("binance", SYMBOL, 100, 5, 1, 42, 1000)
    deliver(node, "a", 1, trade)
    deliver(node, "b", 1, trade)
    assert sink.trades == [trade] and node.duplicates == 1


def test_consolidated_updates_go_to_their_price_subject_with_their_own_numbering():
    link = RecordingLink()
    node, _ = aggregate_node()
    instruments = [view.instrument for view in node.aggregator.views.values()]
    sink = NatsPriceSink(link, "agg", instruments)  # type: ignore[arg-type]
    published = link.published
    update = node.aggregator.on_quote(quote("binance", 100, 1))
    assert update is not None
    sink.publish(update, 5000)
    sink.publish(update, 6000)
    assert [subject for subject, _ in published] == [price_subject(SYMBOL)] * 2
    decoded = [msgspec.msgpack.decode(p, type=Envelope[ConsolidatedQuote]) for _, p in published]
    assert [(d.node, d.seq, d.sent_ns) for d in decoded] == [("agg", 1, 5000), ("agg", 2, 6000)]
    assert decoded[0].event == update


# -- flags ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, complaint",
    [
        (["--role", "ingest"], "role ingest needs a NATS URL"),
        (["--nats", "nats://127.0.0.1:4222"], "a NATS URL needs role ingest or aggregate"),
        (["--role", "aggregate", "--nats", "http://127.0.0.1:4222"], "is not nats://HOST:PORT"),
        (["--role", "aggregate", "--nats", "nats://h:4222", "--shard", "3/2"], "shard '3/2'"),
        (["--role", "ingest", "--nats", "nats://h:4222", "--shard", "1/2"], "a shard is for role aggregate"),
        (["--role", "aggregate", "--nats", "nats://h:4222", "--jetstream-retention", "5"],
         "JetStream retention is set by role ingest"),
        (["--role", "ingest", "--nats", "nats://h:4222", "--jetstream-replay"],
         "JetStream replay is for role aggregate"),
        (["--role", "aggregate", "--nats", "nats://h:4222", "--record", "/tmp/x"],
         "--record needs venue connections"),
    ],
)
def test_bad_scale_out_flags_print_one_line_and_exit_2(argv, complaint, capsys):
    assert main(["run", "--symbols", SYMBOL, *argv]) == 2
    err = capsys.readouterr().err
    assert complaint in err and len(err.strip().splitlines()) == 1


def test_an_aggregator_needs_no_venue_that_carries_its_symbols():
    config = load_config(None, {"role": "aggregate", "symbols": ["BTC-USDT-PERP"],
                                "nats": {"url": "nats://127.0.0.1:4222"}})
    assert config.role == "aggregate" and config.symbols == ["BTC-USDT-PERP"]


def test_a_toml_file_sets_the_role_and_nats_and_flags_win(tmp_path):
    path = tmp_path / "tickwire.toml"
    path.write_text('role = "aggregate"\nsymbols = ["BTC-USDT"]\n'
                    '[nats]\nurl = "nats://10.0.0.13:4222"\nshard = "1/2"\nheartbeat = 0.5\n')
    config = load_config(str(path), {"nats": {"shard": "2/2"}})
    assert (config.role, config.nats.url, config.nats.shard, config.nats.heartbeat) == (
        "aggregate", "nats://10.0.0.13:4222", "2/2", 0.5
    )


def test_the_aggregate_node_times_the_hop_per_venue_and_counts_what_it_shows_at_metrics():
    from tickwire.metrics import bucket_index

    node, sink = aggregate_node()
    deliver(node, "a", 1, quote("binance", 100, update_id=1), arrive_ns=3000, sent_ns=2000)
    deliver(node, "b", 1, quote("binance", 100, update_id=1), arrive_ns=3500, sent_ns=2000)  # a copy
    deliver(node, "a", 3, quote("binance", 101, update_id=3), arrive_ns=4000, sent_ns=2500)  # seq 2 lost
    deliver(node, "k", 1, quote("kraken", 99), arrive_ns=5000)
    stages = node.stages["binance"].by_name
    assert stages["sent_to_arrived"].counts[bucket_index(1000)] == 1  # 3000 - 2000
    assert stages["sent_to_arrived"].counts[bucket_index(1500)] == 2  # the copy, and 4000 - 2500
    assert stages["recv_to_arrived"].counts[bucket_index(3000 - 1100)] == 1  # recv_ns = 1000 + bid
    assert stages["recv_to_published"].count == 2  # the copy published nothing
    assert node.stages["kraken"].by_name["sent_to_arrived"].count == 1
    shown = {family.name: dict((tuple(labels.values()), value) for labels, value in family.samples)
             for family in node.metric_families()}
    assert shown["tickwire_nats_messages_received_total"] == {("binance",): 3, ("kraken",): 1}
    assert shown["tickwire_nats_duplicates_total"] == {("binance",): 1, ("kraken",): 0}
    assert shown["tickwire_nats_sequence_lost_total"] == {("binance",): 1, ("kraken",): 0}
    assert shown["tickwire_venue_live"] == {("binance",): 1, ("kraken",): 1}
    assert shown["tickwire_venue_live_nodes"] == {("binance",): 2, ("kraken",): 1}
    assert shown["tickwire_updates_published_total"] == {(): len(sink.updates)}
    (binance,) = [venue for venue in node.venue_status(6000) if venue["name"] == "binance"]
    assert (binance["state"], binance["frames"], binance["sequence_gaps"]) == ("live", 3, 1)
    assert binance["stages"]["sent_to_arrived"]["buckets"]


def test_an_ingest_node_records_each_frame_before_it_publishes_the_events(tmp_path):
    from tickwire.record.reader import RecordingFile
    from tickwire.record.writer import Recorder, RecordSettings
    from tickwire.scaleout.ingest import IngestNode

    config = load_config(None, {"role": "ingest", "venues": ["binance"], "symbols": [SYMBOL],
                                "nats": {"url": "nats://127.0.0.1:4222", "node": "i"}})
    recorder = Recorder(RecordSettings(directory=str(tmp_path)), config)
    link = RecordingLink()
    node = IngestNode(config, link=link, recorder=recorder)  # type: ignore[arg-type]
    frame = (b'{"stream":"btcusdt@bookTicker","data":{"u":7,"s":"BTCUSDT","b":"67012.01",'
             b'"B":"1.2","a":"67013.41","A":"0.8"}}')
    node.sessions[0].on_frame(frame, 1_795_000_000_000_000_000, True)
    recorder.close()
    (path,) = recorder.files
    records = list(RecordingFile(path).records())
    assert [(r.payload, r.time_ns) for r in records] == [(frame, 1_795_000_000_000_000_000)]
    assert [subject for subject, _ in link.published] == ["tickwire.quote.binance.BTC-USDT"]
    assert node.stages["binance"].by_name["recv_to_sent"].count == 1


def test_a_conflating_ingest_node_publishes_each_symbols_latest_quote_once_per_read():
    from tickwire.scaleout.ingest import IngestNode

    config = load_config(None, {"role": "ingest", "venues": ["binance"], "symbols": [SYMBOL], "conflate": True,
                                "nats": {"url": "nats://127.0.0.1:4222", "node": "i"}})
    link = RecordingLink()
    node = IngestNode(config, link=link)  # type: ignore[arg-type]
    on_frame = node.sessions[0].on_frame
    for u in (7, 8, 9):  # one socket read of three quotes
        frame = (b'{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"67012.0%d",'
                 b'"B":"1.2","a":"67013.41","A":"0.8"}}' % (u, u))
        on_frame(frame, 1_795_000_000_000_000_000 + u, u == 9)
    (subject, payload), = link.published
    assert subject == "tickwire.quote.binance.BTC-USDT"
    sent = msgspec.msgpack.decode(payload, type=Envelope[Quote])
    assert (sent.event.update_id, sent.seq) == (9, 1)
    assert node.conflated == 2
