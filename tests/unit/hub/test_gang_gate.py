"""A training gang starts on its new clusters only once its old copy is known stopped."""

from hypothesis import given
from hypothesis import strategies as st

from federation.hub.gang_gate import OldCopy, awaiting_fence_message, gang_gate


def test_an_answering_cluster_copy_is_deleted_and_waited_for() -> None:
    gate = gang_gate([OldCopy("m1", ready=True, fenced=False, present=True)], started=False)
    assert gate.delete == ("m1",) and gate.stopping == ("m1",) and not gate.open
    assert gate.remember == ("m1",)
    # its deletion was requested: not requested again, still waited for
    gate = gang_gate([OldCopy("m1", True, False, present=True, terminating=True)], False)
    assert gate.delete == () and gate.stopping == ("m1",) and not gate.open


def test_a_gone_copy_opens_the_gate() -> None:
    gate = gang_gate([OldCopy("m1", ready=True, fenced=False, present=False)], started=False)
    assert gate.open and gate.remember == ()


def test_a_silent_cluster_needs_a_fence() -> None:
    silent = OldCopy("m1", ready=False, fenced=False, present=True)
    gate = gang_gate([silent], started=False)
    assert gate.awaiting_fence == ("m1",) and not gate.open and gate.delete == ()
    fenced = OldCopy("m1", ready=False, fenced=True, present=True)
    gate = gang_gate([fenced], started=False)
    assert gate.open and gate.remember == ("m1",) and gate.delete == ()


def test_a_fenced_cluster_that_answers_is_still_verified() -> None:
    gate = gang_gate([OldCopy("m1", ready=True, fenced=True, present=True)], started=False)
    assert not gate.open and gate.delete == ("m1",)


def test_new_copies_already_running_hold_nothing_back() -> None:
    gate = gang_gate([OldCopy("m1", True, False, True), OldCopy("m2", False, False, True)],
                     started=True)
    assert gate.open and gate.delete == ("m1",) and set(gate.remember) == {"m1", "m2"}


def test_the_message_names_the_command() -> None:
    msg = awaiting_fence_message("PyTorchJob", ["member1"])
    assert "`fedctl clusters fence member1`" in msg and "PyTorchJob" in msg


copies = st.builds(OldCopy, st.sampled_from(["a", "b", "c"]), st.booleans(), st.booleans(),
                   st.booleans(), st.booleans())


@given(st.lists(copies, max_size=4), st.booleans())
def test_never_open_while_a_copy_may_run(olds: list[OldCopy], started: bool) -> None:
    gate = gang_gate(olds, started)
    may_run = any(o.present and (o.ready or not o.fenced) for o in olds)
    if gate.open and not started:
        assert not may_run
    # whatever may still run is remembered for clean-up
    assert {o.cluster for o in olds if o.present or (not o.ready)} <= set(gate.remember)
