"""The GPU product a copy is pinned to comes from the binding's hold on that cluster."""

from federation.hub.reconcile import held_product
from federation.scheduling.reservations import Hold


def test_a_gpu_hold_names_its_product() -> None:
    hold = Hold((((None, 0, 500, 1 << 30), 1), (("H100-80GB", 8, 4000, 1 << 34), 2)))
    assert held_product(hold) == "H100-80GB"


def test_no_hold_or_a_cpu_hold_pins_nothing() -> None:
    assert held_product(None) is None
    assert held_product(Hold((((None, 0, 500, 1 << 30), 3),))) is None
